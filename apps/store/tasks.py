from datetime import timedelta

from celery import shared_task

from apps.store import services


# `name=` keeps each task's registered name from before the `_task` suffix: queued messages
# and the beat schedule (config/settings/base.py) address tasks by that name.
@shared_task(
    name="apps.store.tasks.order_fulfil",
    autoretry_for=(Exception,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=12,
)
def order_fulfil_task(*, order_id: int) -> None:
    """Issue, renew or upgrade the licenses of a paid order (idempotent)."""
    services.order_fulfil(order_id=order_id)


@shared_task(name="apps.store.tasks.pending_orders_expire")
def pending_orders_expire_task(*, older_than_hours: int = 48) -> int:
    """Cancel checkouts that were never paid (run by beat)."""
    return services.pending_orders_expire(older_than=timedelta(hours=older_than_hours))
