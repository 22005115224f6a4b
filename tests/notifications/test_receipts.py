"""Receipts and refund notices: sent once per order after the pipeline, retried on SMTP errors."""

from __future__ import annotations

import re
import smtplib
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from celery.exceptions import Retry
from django.contrib.auth.models import User
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client, override_settings

from apps.core.models import OutboxEvent
from apps.core.tasks import outbox_sweep_task
from apps.licenses.models import License
from apps.licenses.selectors import license_key_reveal
from apps.notifications.models import EmailLog
from apps.notifications.tasks import receipt_send_task
from apps.store.models import Order
from apps.store.services import order_refund
from apps.updates.models import Release
from tests.builders import DECLINED, Shop, buy, checkout_form
from tests.conftest import Workers
from tests.helpers import wait_until
from tests.smtp_sink import SlowHandler, SmtpSink

BASE = "http://127.0.0.1:8000"  # DEPOT_STORE_BASE_URL's default: links in e-mails are absolute


class FailingBackend(BaseEmailBackend):
    """A mail server that hangs up on every message."""

    def send_messages(self, email_messages: Sequence[mail.EmailMessage]) -> int:
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


FAILING = "tests.notifications.test_receipts.FailingBackend"


def _parts(message: mail.EmailMessage) -> tuple[str, str]:
    assert isinstance(message, mail.EmailMultiAlternatives)
    (html, mimetype), *_ = message.alternatives
    assert mimetype == "text/html"
    return str(message.body), str(html)


def _words(part: str) -> str:
    """Return an e-mail part as words alone: no tags, single spaces."""
    return " ".join(re.sub(r"<[^>]+>", " ", part).split())


def _links(text: str, path: str) -> list[str]:
    """Return the store links in `text` whose path starts with `path`, as paths."""
    return [m.removeprefix(BASE) for m in re.findall(rf"{re.escape(BASE + path)}[^\s\"<>]*", text)]


def _download(client: Client, path: str) -> bytes:
    response = client.get(path)
    if response.status_code == 302:
        # On S3: a pre-signed URL on the S3 endpoint (moto here).
        with urllib.request.urlopen(response["Location"], timeout=10) as s3:  # noqa: S310
            return bytes(s3.read())
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_a_paid_order_sends_one_receipt_with_the_key_and_a_download_that_works(
    shop: Shop, release: Release
) -> None:
    response = buy(Client(), shop.business)

    assert response.status_code == 303
    order = Order.objects.get()
    key = license_key_reveal(license=License.objects.get())
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ada@example.com"]
    assert order.number in message.subject
    text, html = _parts(message)
    for part in (text, html):
        assert key in part
        assert order.number in part
        assert "$99.00" in part
        assert "Business" in part and "5 sites" in part
        assert f"{BASE}/account/" in part
        assert f"{BASE}/account/downloads/" in part
        assert "expire after 24 hours" in part
    downloads = _links(text, "/updates/download/")
    assert downloads == _links(html, "/updates/download/")
    assert len(downloads) == 1 and downloads[0].endswith("/formwell-2.4.1.zip")
    release.zip_file.open("rb")
    try:
        assert _download(Client(), downloads[0]) == release.zip_file.read()
    finally:
        release.zip_file.close()
    (confirmation,) = set(_links(text, f"/orders/{order.number}/"))
    page = Client().get(confirmation)  # a fresh browser: the key in the link lets it in
    assert page.status_code == 200 and key in page.content.decode()
    log = EmailLog.objects.get()
    assert (log.dedupe_key, log.template, log.status, log.attempts, log.to) == (
        f"receipt:order:{order.pk}",
        "receipt",
        "sent",
        1,
        "ada@example.com",
    )
    assert log.sent_at is not None and log.error == ""


def test_running_the_receipt_task_again_sends_nothing_new(shop: Shop, release: Release) -> None:
    buy(Client(), shop.personal)
    order = Order.objects.get()

    receipt_send_task.delay(order_id=order.pk)
    receipt_send_task.delay(order_id=order.pk)

    assert len(mail.outbox) == 1
    log = EmailLog.objects.get()
    assert (log.status, log.attempts) == ("sent", 1)


def test_an_smtp_failure_is_recorded_retried_and_a_later_success_sends_once(
    shop: Shop, release: Release
) -> None:
    with override_settings(EMAIL_BACKEND=FAILING):
        response = buy(Client(), shop.personal)
        order = Order.objects.get()

        # The customer is not kept waiting on the mail server: the order is paid all the same.
        assert response.status_code == 303
        assert Order.objects.get().status == "paid"
        assert mail.outbox == []
        # The durable OrderFulfilled event is kept for the sweeper until the receipt is out.
        fulfilled = OutboxEvent.objects.get(name="store.OrderFulfilled")
        assert fulfilled.dispatched_at is None
        assert "SMTPServerDisconnected" in fulfilled.last_error

        # Run as the worker runs it: the failure asks Celery for a retry with backoff.
        with pytest.raises(Retry) as retry:
            receipt_send_task.apply(kwargs={"order_id": order.pk})

    assert isinstance(retry.value.exc, smtplib.SMTPServerDisconnected)
    log = EmailLog.objects.get()
    assert log.status == "failed"
    assert log.error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert log.attempts == 1
    assert log.sent_at is None and mail.outbox == []

    outbox_sweep_task.delay(older_than_seconds=0)
    outbox_sweep_task.delay(older_than_seconds=0)

    assert len(mail.outbox) == 1
    assert license_key_reveal(license=License.objects.get()) in str(mail.outbox[0].body)
    log.refresh_from_db()
    assert (log.status, log.error, log.attempts) == ("sent", "", 2)
    assert OutboxEvent.objects.get(name="store.OrderFulfilled").dispatched_at is not None


def test_the_admin_sends_a_failed_receipt_again(shop: Shop, release: Release, admin_client) -> None:
    with override_settings(EMAIL_BACKEND=FAILING):
        buy(Client(), shop.personal)
        order = Order.objects.get()
        with pytest.raises(Retry):
            receipt_send_task.apply(kwargs={"order_id": order.pk})
    log = EmailLog.objects.get()
    listing = admin_client.get("/admin/notifications/emaillog/", {"status__exact": "failed"})
    assert listing.status_code == 200 and log.dedupe_key in listing.content.decode()

    response = admin_client.post(
        "/admin/notifications/emaillog/",
        {"action": "send_again", "_selected_action": [log.pk]},
    )

    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ada@example.com"]
    log.refresh_from_db()
    assert log.status == "sent"


def test_a_declined_payment_sends_no_receipt_and_writes_no_log(
    shop: Shop, release: Release
) -> None:
    response = buy(Client(), shop.personal, card_number=DECLINED)
    order = Order.objects.get()

    receipt_send_task.delay(order_id=order.pk)

    assert response.status_code == 402
    assert mail.outbox == []
    assert not EmailLog.objects.exists()


def test_a_refund_sends_a_notice_naming_the_revoked_key(shop: Shop, release: Release) -> None:
    buy(Client(), shop.business)
    order = Order.objects.get()
    license = License.objects.get()

    order_refund(order_id=order.pk, reason="customer asked")
    order_refund(order_id=order.pk)  # refunding twice changes nothing, sends nothing

    assert len(mail.outbox) == 2
    notice = mail.outbox[1]
    assert notice.to == ["ada@example.com"]
    assert notice.subject == f"Order {order.number} was refunded"
    for part in _parts(notice):
        assert order.number in part
        assert "$99.00" in part
        assert f"…{license.key_hint}" in part and "revoked" in part
        assert "reply to this e-mail" in part
        assert license_key_reveal(license=license) not in part
    log = EmailLog.objects.get(template="refund_notice")
    assert (log.dedupe_key, log.status) == (f"refund:order:{order.pk}", "sent")


def test_a_new_guest_account_gets_a_set_password_link_that_works(
    shop: Shop, release: Release
) -> None:
    buy(Client(), shop.personal)
    text, html = _parts(mail.outbox[0])
    (link,) = set(_links(text, "/account/password/"))
    assert link in html

    form = Client().get(link, follow=True)  # opened from the mail: another browser

    assert form.status_code == 200
    assert form.context["validlink"] is True
    assert 'name="new_password1"' in form.content.decode()


def test_a_customer_with_a_password_gets_no_set_password_link(shop: Shop, release: Release) -> None:
    user = User.objects.create_user("grace", "grace@example.com", "a-long-password-1")
    client = Client()
    client.force_login(user)

    buy(client, shop.personal)

    text, html = _parts(mail.outbox[0])
    assert mail.outbox[0].to == ["grace@example.com"]
    assert "/account/password/" not in text and "/account/password/" not in html
    assert "Set a password" not in html


@dataclass
class RefusingHandler(SlowHandler):
    """A real mail server that refuses the first `refuse` messages with a temporary error."""

    refuse: int = 1

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 Requested action aborted: local error in processing"
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.real_services
def test_a_worker_retries_a_refused_receipt_with_backoff_and_sends_it_once(
    shop: Shop, release: Release, celery_workers: Workers
) -> None:
    handler = RefusingHandler(refuse=1)
    with SmtpSink(handler) as smtp:
        celery_workers.start(**smtp.env)

        buy(Client(), shop.personal)
        order = Order.objects.get()
        wait_until(
            lambda: EmailLog.objects.filter(
                dedupe_key=f"receipt:order:{order.pk}", status="sent"
            ).exists(),
            timeout=60,
        )
        messages = smtp.wait_for(1)

    assert len(messages) == 1 and handler.refuse == 0
    assert "Retry in" in celery_workers.logs() and "SMTPDataError" in celery_workers.logs()
    log = EmailLog.objects.get()
    assert (log.status, log.attempts, log.error) == ("sent", 2, "")
    key = license_key_reveal(license=License.objects.get())
    parts = {part.get_content_type(): part.get_payload(decode=True) for part in messages[0].walk()}
    assert key.encode() in parts["text/plain"] and key.encode() in parts["text/html"]


def test_a_renewal_receipt_and_its_refund_say_what_changed_without_revoking(
    shop: Shop, release: Release
) -> None:
    buy(Client(), shop.personal)
    first = Order.objects.get()
    license = License.objects.get()
    expires = license.expires_at
    assert first.customer is not None and expires is not None
    customer = Client()
    customer.force_login(first.customer)
    customer.post(f"/account/licenses/{license.pk}/renew/")

    response = customer.post("/checkout/", checkout_form(customer))

    assert response.status_code == 303
    renewal = Order.objects.exclude(pk=first.pk).get()
    license.refresh_from_db()
    assert license.expires_at is not None and license.expires_at > expires
    assert len(mail.outbox) == 2
    for part in _parts(mail.outbox[1]):
        assert "(renewed)" in part
        assert license_key_reveal(license=license) in part
        assert f"{license.expires_at:%-d %B %Y}" in part

    order_refund(order_id=renewal.pk)

    license.refresh_from_db()
    assert license.status == "active" and license.expires_at == expires
    assert len(mail.outbox) == 3
    for part in map(_words, _parts(mail.outbox[2])):
        assert f"renewal of license …{license.key_hint} was undone" in part
        assert f"{expires:%-d %B %Y} again" in part
        assert "revoked" not in part
