"""E-mails Depot owes its customers: each one logged under a dedupe key and sent at most once.

`email_send` is the one way out: a unique `EmailLog` row per message, locked while the message
goes to the mail server, so a retried or duplicated task finds it sent and stops. A failure is
recorded on the row (committed, so it survives the task's retry) and raised again for Celery to
retry with backoff, unless the mail server had already accepted the message: then only the
write is retried, in the task, and the message is never sent twice. The receipt and the refund
notice build their context here from the selectors of the store, licenses and updates.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.core import signing
from django.core.mail import EmailMultiAlternatives
from django.db import DatabaseError, transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.licenses import selectors as license_selectors
from apps.licenses.sites import sites_label
from apps.notifications.models import EmailLog, ReminderUnsubscribe
from apps.store import selectors as store_selectors
from apps.updates import selectors as update_selectors

if TYPE_CHECKING:
    from apps.licenses.models import License
    from apps.store.models import Order, OrderLine
    from apps.updates.models import Release

logger = logging.getLogger(__name__)

RECEIPT = "receipt"
REFUND_NOTICE = "refund_notice"
RENEWAL_REMINDER = "renewal_reminder"
PASSWORD_RESET = "password_reset"  # noqa: S105 (a template name)


def email_send(
    *,
    dedupe_key: str,
    to: str,
    subject: str,
    template: str,
    context: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> EmailLog:
    """Send the e-mail `dedupe_key` once (HTML and text); a failure is logged and re-raised."""
    log, _ = EmailLog.objects.get_or_create(
        dedupe_key=dedupe_key, defaults={"to": to, "subject": subject, "template": template}
    )
    if log.status == EmailLog.Status.SENT:
        return log
    accepted = False
    try:
        text = render_to_string(f"notifications/email/{template}.txt", context)
        html = render_to_string(f"notifications/email/{template}.html", context)
        with transaction.atomic():
            # Locked while the mail server answers: a second delivery of the same task waits
            # here, then finds the row sent.
            log = EmailLog.objects.select_for_update().get(pk=log.pk)
            if log.status == EmailLog.Status.SENT:
                return log
            message = EmailMultiAlternatives(subject=subject, body=text, to=[to], headers=headers)
            message.attach_alternative(html, "text/html")
            message.send()
            accepted = True
            _sent_mark(log, to=to, subject=subject, template=template)
    except Exception as exc:
        if accepted:
            # The mail server has the message; only recording it failed (the database went
            # away mid-task). Raising would make Celery send it again: record it, no resend.
            return _sent_record_again(log, to=to, subject=subject, template=template, exc=exc)
        # Outside the rolled-back transaction, so the failure survives for the retry.
        EmailLog.objects.filter(pk=log.pk).update(
            status=EmailLog.Status.FAILED,
            attempts=F("attempts") + 1,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            updated_at=timezone.now(),
        )
        raise
    return log


def _sent_mark(log: EmailLog, *, to: str, subject: str, template: str) -> None:
    """Record `log` as sent (one UPDATE; a failed try leaves the row and `log` untouched)."""
    now = timezone.now()
    fields = {"to": to, "subject": subject, "template": template, "error": ""}
    EmailLog.objects.filter(pk=log.pk).update(
        **fields,
        status=EmailLog.Status.SENT,
        attempts=F("attempts") + 1,
        sent_at=now,
        updated_at=now,
    )
    log.to, log.subject, log.template, log.error = to, subject, template, ""
    log.status, log.attempts, log.sent_at, log.updated_at = (
        EmailLog.Status.SENT,
        log.attempts + 1,
        now,
        now,
    )


def _sent_record_again(
    log: EmailLog, *, to: str, subject: str, template: str, exc: Exception
) -> EmailLog:
    """Record a message the mail server accepted, retrying the write (never the send).

    Tried on a fresh connection every `DEPOT_MAIL_RECORD_RETRY_DELAY` seconds for up to
    `DEPOT_MAIL_RECORD_RETRY_SECONDS` (a database restart takes seconds). If the database
    stays away longer, the row keeps its earlier status and the error is logged: a receipt
    the buyer may see twice is worse than a log row an operator reconciles by hand.
    """
    logger.warning("e-mail %s sent, recording it failed (%s); retrying", log.dedupe_key, exc)
    deadline = time.monotonic() + settings.DEPOT_MAIL_RECORD_RETRY_SECONDS
    while True:
        if not transaction.get_connection().in_atomic_block:
            # A fresh connection: the old one died with the database (a no-op if it lives).
            transaction.get_connection().close()
        try:
            _sent_mark(log, to=to, subject=subject, template=template)
        except DatabaseError as again:
            if time.monotonic() >= deadline or transaction.get_connection().in_atomic_block:
                logger.error(
                    "e-mail %s was sent but could not be recorded as sent (%s); "
                    "not sending it again",
                    log.dedupe_key,
                    again,
                )
                return log
            time.sleep(settings.DEPOT_MAIL_RECORD_RETRY_DELAY)
        else:
            logger.info("e-mail %s recorded as sent after %s", log.dedupe_key, exc)
            return log


def _store_url(path: str) -> str:
    return str(settings.DEPOT_STORE_BASE_URL).rstrip("/") + path


def _order(order_id: int) -> Order:
    return store_selectors.order_by_id(order_id=order_id)


@dataclass(frozen=True)
class ReceiptLine:
    line: OrderLine
    license: License | None
    key: str
    download_url: str
    version: str

    @property
    def sites(self) -> str:
        limit = self.license.activation_limit if self.license else self.line.tier.sites_allowed
        return sites_label(limit)

    @property
    def expires_at(self) -> datetime | None:
        return self.license.expires_at if self.license else None


def _receipt_lines(order: Order) -> list[ReceiptLine]:
    base_url = str(settings.DEPOT_UPDATES_BASE_URL or settings.DEPOT_STORE_BASE_URL).rstrip("/")
    lines = []
    releases: dict[int, Release | None] = {}
    for view in store_selectors.order_lines_with_licenses(order=order):
        license = view.license
        key = url = version = ""
        if license is not None:
            key = license_selectors.license_key_reveal(license=license)
            product = view.line.product
            if product.pk not in releases:
                releases[product.pk] = update_selectors.release_latest(product=product)
            release = releases[product.pk]
            if release is not None and license_selectors.license_refusal(license) is None:
                version = release.version
                url = update_selectors.account_download_link(
                    base_url=base_url, license_id=license.pk, product=product, release=release
                )
        lines.append(
            ReceiptLine(line=view.line, license=license, key=key, download_url=url, version=version)
        )
    return lines


def _set_password_url(order: Order) -> str:
    """The link that sets the account's password, for the mailbox that owns the account only."""
    customer = order.customer
    if (
        customer is None
        or customer.has_usable_password()
        or customer.email.strip().lower() != order.email.strip().lower()
    ):
        # The receipt goes to the order's address: it may carry a link to that address's
        # own account only, never to the account of whoever placed the order.
        return ""
    return _store_url(
        reverse(
            "account:password-reset-confirm",
            args=[
                urlsafe_base64_encode(force_bytes(customer.pk)),
                default_token_generator.make_token(customer),
            ],
        )
    )


def receipt_send(*, order_id: int) -> EmailLog | None:
    """Send the receipt of a fulfilled order once: keys, downloads, links; None if not due."""
    order = _order(order_id)
    if order.status != order.Status.PAID or order.fulfilled_at is None:
        # Refunded before the receipt went out, or not fulfilled: the keys are not valid.
        logger.info("receipt for order %s skipped: %s", order.number, order.status)
        return None
    account_url = _store_url(reverse("account:overview"))
    context = {
        "site_name": settings.DEPOT_SITE_NAME,
        "order": order,
        "lines": _receipt_lines(order),
        "account_url": account_url,
        "downloads_url": _store_url(reverse("account:downloads")),
        "order_url": _store_url(
            f"{reverse('store:order', args=[order.number])}?key={order.access_key}"
        ),
        "set_password_url": _set_password_url(order),
        "download_hours": settings.DEPOT_DOWNLOAD_TOKEN_HOURS,
    }
    return email_send(
        dedupe_key=f"receipt:order:{order.pk}",
        to=order.email,
        subject=f"Your {settings.DEPOT_SITE_NAME} receipt for order {order.number}",
        template=RECEIPT,
        context=context,
    )


def refund_notice_send(*, order_id: int) -> EmailLog | None:
    """Tell the buyer their order was refunded and which licenses it took back; once."""
    order = _order(order_id)
    if order.status != order.Status.REFUNDED:
        return None
    context = {
        "site_name": settings.DEPOT_SITE_NAME,
        "order": order,
        "lines": store_selectors.order_lines_with_licenses(order=order),
        "account_url": _store_url(reverse("account:overview")),
    }
    return email_send(
        dedupe_key=f"refund:order:{order.pk}",
        to=order.email,
        subject=f"Order {order.number} was refunded",
        template=REFUND_NOTICE,
        context=context,
    )


_AGAIN = re.compile(r"^(?P<kind>receipt|refund):order:(?P<order_id>\d+)$")
_AGAIN_REMINDER = re.compile(r"^renewal:license:(?P<license_id>\d+):(?P<stage>-?\d+):\d{8}$")


def email_send_again(*, email_log_ids: list[int]) -> int:
    """Queue the failed e-mails among `email_log_ids` to be sent again; return how many."""
    from apps.notifications import tasks

    queued = 0
    for log in EmailLog.objects.filter(pk__in=email_log_ids, status=EmailLog.Status.FAILED):
        match = _AGAIN.match(log.dedupe_key)
        reminder = _AGAIN_REMINDER.match(log.dedupe_key)
        if match is None and reminder is None:
            continue
        try:
            # The row stays failed until the task sends it, so a lost message can be re-sent.
            if reminder is not None:
                tasks.renewal_reminder_send_task.delay(
                    license_id=int(reminder["license_id"]), stage=int(reminder["stage"])
                )
            elif match is not None:
                task = (
                    tasks.receipt_send_task
                    if match["kind"] == "receipt"
                    else tasks.refund_notice_send_task
                )
                task.delay(order_id=int(match["order_id"]))
        except Exception:
            logger.exception("could not queue %s again", log.dedupe_key)
            continue
        queued += 1
    return queued


# --- renewal reminders -----------------------------------------------------------------------

UNSUBSCRIBE_SALT = "depot.notifications.reminder-unsubscribe"


def unsubscribe_token(*, email: str) -> str:
    """Return the signed token of `email`'s unsubscribe link (it never expires)."""
    return signing.dumps(email.strip().casefold(), salt=UNSUBSCRIBE_SALT, compress=True)


def unsubscribe_email_of(*, token: str) -> str | None:
    """Return the address an unsubscribe token was made for, or None if it was tampered with."""
    try:
        email = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    return email if isinstance(email, str) else None


def reminders_unsubscribe(*, email: str) -> ReminderUnsubscribe:
    """Stop renewal reminders to `email` (and its account); asking twice changes nothing."""
    email = email.strip().casefold()
    customer = User.objects.filter(email__iexact=email).order_by("pk").first()
    row, _ = ReminderUnsubscribe.objects.get_or_create(email=email, defaults={"customer": customer})
    return row


def reminders_unsubscribed(*, email: str) -> bool:
    """Whether `email` asked for no more renewal reminders."""
    return ReminderUnsubscribe.objects.filter(email=email.strip().casefold()).exists()


def renewal_reminder_send(*, license_id: int, stage: int) -> EmailLog | None:
    """E-mail a license's owner that it expires (or expired): the date, the renewal price and a
    one-click link to pay it; once per license, stage and expiry. None when no longer due
    (renewed, revoked, refunded since) or the owner unsubscribed."""
    license = license_selectors.renewal_reminder_of(license_id=license_id, stage=stage)
    if license is None or license.expires_at is None:
        logger.info("renewal reminder %s for license %s skipped: not due", stage, license_id)
        return None
    if reminders_unsubscribed(email=license.email):
        logger.info("renewal reminder %s for license %s skipped: unsubscribed", stage, license_id)
        return None
    offer = store_selectors.renewal_offer_of(license=license)
    expired = license.is_expired()
    unsubscribe_url = _store_url(
        reverse("notifications:unsubscribe", args=[unsubscribe_token(email=license.email)])
    )
    product = license.product.name
    context = {
        "site_name": settings.DEPOT_SITE_NAME,
        "license": license,
        "product": product,
        "expires_at": license.expires_at,
        "expired": expired,
        "offer": offer,
        "renew_url": _store_url(
            store_selectors.renewal_link_path(license_id=license.pk)
            if offer is not None
            else reverse("account:license", args=[license.pk])
        ),
        "link_days": settings.DEPOT_RENEWAL_LINK_DAYS,
        "account_url": _store_url(reverse("account:overview")),
        "unsubscribe_url": unsubscribe_url,
    }
    when = f"{license.expires_at:%-d %B %Y}"
    subject = (
        f"Your {product} license expired on {when}"
        if expired
        else f"Your {product} license expires on {when}"
    )
    return email_send(
        dedupe_key=f"renewal:license:{license.pk}:{stage}:{license.expires_at:%Y%m%d}",
        to=license.email,
        subject=subject,
        template=RENEWAL_REMINDER,
        context=context,
        # One-click unsubscribe in the mail client (RFC 8058): a POST to the same link.
        headers={
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


# --- password links --------------------------------------------------------------------------


def password_reset_request(*, user_id: int, domain: str, use_https: bool) -> None:
    """Queue the set-password e-mail for the mail worker, so the request never waits on SMTP.

    Raises what the broker raises when it cannot take the task; the caller decides whether
    to send the e-mail itself then.
    """
    from apps.notifications.tasks import password_reset_send_task

    password_reset_send_task.delay(
        user_id=user_id, domain=domain, use_https=use_https, nonce=uuid.uuid4().hex
    )


def password_reset_send(
    *, user_id: int, domain: str, use_https: bool, nonce: str
) -> EmailLog | None:
    """E-mail the link that sets `user_id`'s password (the account's "Forgot your password?").

    The token is made here, in the worker, so no secret travels through the broker; `nonce`
    is the request's, so a retried task sends its message once while every request gets one.
    """
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not user.email:
        return None
    context = {
        "site_name": settings.DEPOT_SITE_NAME,
        "email": user.email,
        "domain": domain,
        "protocol": "https" if use_https else "http",
        "uid": urlsafe_base64_encode(force_bytes(user.pk)),
        "token": default_token_generator.make_token(user),
    }
    return email_send(
        dedupe_key=f"password-reset:user:{user.pk}:{nonce}",
        to=user.email,
        subject=f"Set your password at {settings.DEPOT_SITE_NAME}",
        template=PASSWORD_RESET,
        context=context,
    )
