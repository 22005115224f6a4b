from datetime import timedelta

from celery import shared_task

from apps.store import services


@shared_task(autoretry_for=(Exception,), retry_backoff=True, retry_backoff_max=300, max_retries=12)
def order_fulfil(*, order_id: int) -> None:
    """Issue, renew or upgrade the licenses of a paid order (idempotent)."""
    services.order_fulfil(order_id=order_id)


@shared_task
def pending_orders_expire(*, older_than_hours: int = 48) -> int:
    """Cancel checkouts that were never paid (run by beat)."""
    return services.pending_orders_expire(older_than=timedelta(hours=older_than_hours))
