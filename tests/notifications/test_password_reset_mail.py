"""The account's password link goes out through the mail task, not from the request."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from apps.notifications.models import EmailLog
from apps.store.services import customer_for_email
from tests.conftest import Workers
from tests.helpers import wait_until
from tests.smtp_sink import SlowHandler, SmtpSink

RESET_LINK = re.compile(r"http://testserver(/account/password/[^/\s\"<>]+/[^/\s\"<>]+/)")


def test_the_password_link_is_a_logged_html_and_text_mail_whose_link_works(
    transactional_db: None,
) -> None:
    user, _ = customer_for_email(email="guest@example.com")
    client = Client()

    response = client.post("/account/password-reset/", {"email": "guest@example.com"})

    assert response.status_code == 302
    (message,) = mail.outbox
    assert isinstance(message, mail.EmailMultiAlternatives)
    (html, _), *_ = message.alternatives
    (link,) = set(RESET_LINK.findall(str(message.body)))
    assert link in str(html)
    log = EmailLog.objects.get()
    assert (log.template, log.status, log.to) == ("password_reset", "sent", "guest@example.com")
    assert log.dedupe_key.startswith(f"password-reset:user:{user.pk}:")
    assert client.get(link, follow=True).context["validlink"] is True

    client.post("/account/password-reset/", {"email": "guest@example.com"})

    assert len(mail.outbox) == 2  # each request its own mail, each logged
    assert EmailLog.objects.filter(template="password_reset").count() == 2


def test_an_unknown_address_queues_nothing(transactional_db: None) -> None:
    response = Client().post("/account/password-reset/", {"email": "nobody@example.com"})

    assert response["Location"] == "/account/password-reset/sent/"
    assert mail.outbox == [] and not EmailLog.objects.exists()


@pytest.mark.real_services
def test_the_request_only_queues_the_mail_and_the_mail_worker_sends_it(
    celery_workers: Workers,
) -> None:
    customer_for_email(email="guest@example.com")

    response = Client().post("/account/password-reset/", {"email": "guest@example.com"})

    # Answered before any worker runs: nothing was sent from the request.
    assert response.status_code == 302
    assert mail.outbox == [] and not EmailLog.objects.exists()
    with SmtpSink(SlowHandler()) as smtp:
        celery_workers.start(**smtp.env)
        (message,) = smtp.wait_for(1)
    assert message["To"] == "guest@example.com"
    wait_until(lambda: EmailLog.objects.filter(template="password_reset", status="sent").exists())
