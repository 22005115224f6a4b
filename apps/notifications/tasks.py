from celery import shared_task

from apps.notifications import services

# `name=` keeps each task's registered name from before the `_task` suffix: queued messages
# and the beat schedule (config/settings/base.py) address tasks by that name.
#
# Up to ten retries, backing off to at most ten minutes apart (with jitter, a quarter of an
# hour in all); a longer mail outage leaves the row failed for the admin's "Send again".


@shared_task(
    name="apps.notifications.tasks.receipt_send",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def receipt_send_task(*, order_id: int) -> None:
    """Send the receipt of a fulfilled order (once; a sent receipt is skipped)."""
    services.receipt_send(order_id=order_id)


@shared_task(
    name="apps.notifications.tasks.refund_notice_send",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def refund_notice_send_task(*, order_id: int) -> None:
    """Tell the buyer of a refunded order which licenses were revoked (once)."""
    services.refund_notice_send(order_id=order_id)


@shared_task(
    name="apps.notifications.tasks.renewal_reminder_send",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=600,
    max_retries=10,
)
def renewal_reminder_send_task(*, license_id: int, stage: int) -> None:
    """E-mail a license's renewal reminder for `stage` (once; skipped when no longer due)."""
    services.renewal_reminder_send(license_id=license_id, stage=stage)


# Called by name from apps.account (a sibling in the top layer, which may not import this
# module): `signature("apps.notifications.tasks.password_reset_send")`.
@shared_task(
    name="apps.notifications.tasks.password_reset_send",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=5,
)
def password_reset_send_task(*, user_id: int, domain: str, use_https: bool, nonce: str) -> None:
    """E-mail the account's set-password link (once per request)."""
    services.password_reset_send(user_id=user_id, domain=domain, use_https=use_https, nonce=nonce)
