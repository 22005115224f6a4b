"""Renewal reminders: each stage e-mailed once, a link that checks out at the discount, unsubscribe.

The licenses are made through the services with expiries inside each stage's window (30, 7 and
1 days before the expiry, 7 days after); the reminders are published by the management command
or beat's task, delivered through the outbox, and sent by the notifications task.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client, override_settings
from django.utils import timezone

from apps.licenses.models import License
from apps.licenses.services import (
    license_expiry_set,
    license_renew,
    license_revoke,
    license_status_set,
)
from apps.licenses.tasks import renewal_reminders_publish_task
from apps.notifications.models import EmailLog
from apps.store.models import Order
from apps.store.services import order_refund
from tests.builders import Shop, buy, checkout_form, customer_make, license_make
from tests.conftest import Workers
from tests.helpers import wait_until
from tests.smtp_sink import SlowHandler, SmtpSink

BASE = "http://127.0.0.1:8000"  # DEPOT_STORE_BASE_URL's default: links in e-mails are absolute

# Days left (negative: days since the expiry) that fall inside each stage's window.
AT_STAGE = {30: 29.5, 7: 6.5, 1: 0.5, -7: -7.5}


def _parts(message: mail.EmailMessage) -> tuple[str, str]:
    assert isinstance(message, mail.EmailMultiAlternatives)
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return str(message.body), str(html)


def _link(part: str, path: str) -> str:
    """Return the one store link in `part` whose path starts with `path`, as a path."""
    links = set(re.findall(rf"{re.escape(BASE + path)}[^\s\"<>]*", part))
    assert len(links) == 1, links
    return links.pop().removeprefix(BASE)


def _license(shop: Shop, email: str, days: float | None) -> License:
    return license_make(shop.product, email=email, days=days, tier=shop.personal).license


def _sent_to() -> list[str]:
    return sorted(message.to[0] for message in mail.outbox)


def test_each_stage_is_mailed_once_and_the_excluded_kinds_never(shop: Shop) -> None:
    at_stage = {
        stage: _license(shop, f"stage{stage}@example.com", days) for stage, days in AT_STAGE.items()
    }
    _license(shop, "early@example.com", 45)  # no stage yet
    _license(shop, "lapsed@example.com", -30)  # its last stage is long past
    _license(shop, "lifetime@example.com", None)
    license_revoke(license_id=_license(shop, "revoked@example.com", 6.5).pk)
    license_status_set(license_id=_license(shop, "disabled@example.com", 6.5).pk, status="disabled")
    license_renew(license_id=_license(shop, "renewed@example.com", 6.5).pk)
    buy(Client(), shop.personal, email="refunded@example.com")
    refunded = License.objects.get(email="refunded@example.com")
    license_expiry_set(license_id=refunded.pk, expires_at=timezone.now() + timedelta(days=6.5))
    order_refund(order_id=Order.objects.get(email="refunded@example.com").pk)
    mail.outbox.clear()  # the purchase's receipt and refund notice

    call_command("renewal_reminders")

    assert _sent_to() == sorted(f"stage{stage}@example.com" for stage in AT_STAGE)
    for message in mail.outbox:
        stage = int(message.to[0].removeprefix("stage").partition("@")[0])
        license = at_stage[stage]
        assert license.expires_at is not None
        when = f"{license.expires_at:%-d %B %Y}"
        verb = "expired" if stage < 0 else "expires"
        assert message.subject == f"Your Formwell license {verb} on {when}"
        text, html = _parts(message)
        for part in (text, html):
            assert when in part
            assert f"…{license.key_hint}" in part
            assert "$34.30" in part and "30% off" in part  # $49.00 less the renewal discount
            assert _link(part, "/renew/")
            assert _link(part, "/email/unsubscribe/")
        assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    logs = EmailLog.objects.filter(template="renewal_reminder")
    assert sorted(logs.values_list("dedupe_key", flat=True)) == sorted(
        f"renewal:license:{license.pk}:{stage}:{license.expires_at:%Y%m%d}"
        for stage, license in at_stage.items()
    )
    assert {log.status for log in logs} == {"sent"}

    # Run again, by the command and as beat runs it: every stage is recorded, nothing more goes.
    call_command("renewal_reminders")
    renewal_reminders_publish_task.delay()

    assert len(mail.outbox) == len(AT_STAGE)
    assert EmailLog.objects.filter(template="renewal_reminder").count() == len(AT_STAGE)


def test_the_next_stage_is_mailed_when_it_comes_and_a_renewal_stops_the_rest(shop: Shop) -> None:
    license = _license(shop, "ada@example.com", AT_STAGE[30])
    call_command("renewal_reminders")
    assert len(mail.outbox) == 1

    license_expiry_set(
        license_id=license.pk, expires_at=timezone.now() + timedelta(days=AT_STAGE[7])
    )
    call_command("renewal_reminders")
    call_command("renewal_reminders")

    assert len(mail.outbox) == 2
    assert EmailLog.objects.filter(
        dedupe_key__startswith=f"renewal:license:{license.pk}:7:"
    ).exists()

    license_renew(license_id=license.pk)  # renewed: the expiry moves past every stage
    call_command("renewal_reminders")

    assert len(mail.outbox) == 2


def test_the_renewal_link_checks_out_the_renewal_at_the_discount(shop: Shop) -> None:
    customer = customer_make("ada@example.com")
    license = license_make(
        shop.product,
        email="ada@example.com",
        days=AT_STAGE[7],
        tier=shop.personal,
        customer=customer,
    ).license
    expires = license.expires_at
    assert expires is not None
    call_command("renewal_reminders")
    (reminder,) = mail.outbox
    link = _link(_parts(reminder)[0], "/renew/")
    browser = Client()  # opened from the mail: not signed in

    opened = browser.get(link)

    assert opened.status_code == 302 and opened["Location"] == "/checkout/"
    page = browser.get("/checkout/")
    assert page.status_code == 200 and "$34.30" in page.content.decode()
    paid = browser.post("/checkout/", checkout_form(browser, email="ada@example.com"))

    assert paid.status_code == 303
    order = Order.objects.get()
    assert (order.status, order.total, order.currency) == ("paid", 3430, "USD")
    (line,) = order.lines.all()
    assert (line.kind, line.license_id, line.unit_amount) == ("renewal", license.pk, 3430)
    license.refresh_from_db()
    assert license.expires_at == expires + timedelta(days=365)
    # The receipt went out, and the renewed license is owed no further reminder.
    assert len(mail.outbox) == 2 and order.number in mail.outbox[1].subject
    call_command("renewal_reminders")
    assert len(mail.outbox) == 2


def test_a_tampered_or_expired_renewal_link_shows_a_clear_page_and_adds_nothing(
    shop: Shop,
) -> None:
    _license(shop, "ada@example.com", AT_STAGE[1])
    call_command("renewal_reminders")
    link = _link(_parts(mail.outbox[0])[0], "/renew/")
    browser = Client()

    token = link.removeprefix("/renew/").rstrip("/")
    tampered = browser.get(f"/renew/{token[:-2]}{'xy' if token[-2:] != 'xy' else 'yx'}/")
    with override_settings(DEPOT_RENEWAL_LINK_DAYS=-1):  # every link is older than that
        expired = browser.get(link)

    for response in (tampered, expired):
        assert response.status_code == 400
        assert "This renewal link has expired or is not valid" in response.content.decode()
    assert browser.get("/checkout/").status_code == 302  # the cart is still empty


def test_unsubscribing_stops_the_next_stage_and_the_admin_shows_it(
    shop: Shop, admin_client: Client
) -> None:
    license = _license(shop, "ada@example.com", AT_STAGE[30])
    other = _license(shop, "grace@example.com", AT_STAGE[30])
    call_command("renewal_reminders")
    assert _sent_to() == ["ada@example.com", "grace@example.com"]
    ada = next(message for message in mail.outbox if message.to == ["ada@example.com"])
    link = _link(_parts(ada)[1], "/email/unsubscribe/")
    browser = Client()

    asked = browser.get(link)  # a link scanner opening it unsubscribes nobody
    assert asked.status_code == 200 and "Stop renewal reminders" in asked.content.decode()
    done = browser.post(link)

    assert done.status_code == 200 and 'id="unsubscribed"' in done.content.decode()
    listing = admin_client.get("/admin/notifications/reminderunsubscribe/")
    assert listing.status_code == 200 and "ada@example.com" in listing.content.decode()
    for each in (license, other):
        license_expiry_set(
            license_id=each.pk, expires_at=timezone.now() + timedelta(days=AT_STAGE[7])
        )
    mail.outbox.clear()

    call_command("renewal_reminders")

    assert _sent_to() == ["grace@example.com"]


def test_a_forged_unsubscribe_link_changes_nothing(shop: Shop) -> None:
    response = Client().post("/email/unsubscribe/ada@example.com/")

    assert response.status_code == 400
    assert "not valid" in response.content.decode()


@pytest.mark.real_services
def test_a_real_worker_sends_the_reminder_from_the_mail_queue(
    shop: Shop, celery_workers: Workers
) -> None:
    handler = SlowHandler()
    with SmtpSink(handler) as smtp:
        celery_workers.start(**smtp.env)
        license = _license(shop, "ada@example.com", AT_STAGE[7])

        renewal_reminders_publish_task.apply()  # as beat's run lands on a worker
        renewal_reminders_publish_task.apply()
        wait_until(
            lambda: EmailLog.objects.filter(template="renewal_reminder", status="sent").exists(),
            timeout=60,
        )
        messages = smtp.wait_for(1)

    assert len(messages) == 1 and messages[0]["To"] == "ada@example.com"
    assert "renewal_reminder_send" in celery_workers.logs()
    log = EmailLog.objects.get(template="renewal_reminder")
    assert log.dedupe_key.startswith(f"renewal:license:{license.pk}:7:")
