from typing import Any

from celery import shared_task
from django.conf import settings

from apps.webhooks import services


@shared_task(bind=True)
def webhook_deliver_task(self: Any, *, delivery_id: int) -> bool:
    """Try one delivery if it is due; schedule the next try with backoff when it fails.

    The schedule lives in the row (attempts, next_attempt_at), not in Celery's retry count,
    so a duplicate message, a replay and the sweeper all agree on it. Waits longer than
    DEPOT_WEBHOOKS_ETA_MAX_SECONDS are left to the sweeper: a message held for hours by a
    worker (an ETA) outlives RabbitMQ's consumer timeout and is lost with the channel.
    """
    outcome = services.delivery_attempt(delivery_id=delivery_id)
    wait = outcome.retry_in
    # In-process (make run, eager tests) a countdown is not honoured: the next try would run
    # at once, inside this one; the sweeper sends it when it is due instead.
    if (
        wait is not None
        and wait <= settings.DEPOT_WEBHOOKS_ETA_MAX_SECONDS
        and not self.request.is_eager
    ):
        webhook_deliver_task.apply_async(kwargs={"delivery_id": delivery_id}, countdown=wait)
    return outcome.tried


@shared_task
def webhook_deliveries_sweep_task() -> int:
    """Send the pending deliveries whose next try is due (run by beat every minute)."""
    return services.deliveries_sweep()
