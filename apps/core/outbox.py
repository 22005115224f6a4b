"""The transactional outbox: events that must be delivered even if the broker is down."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.events import Event, deliver
from apps.core.models import OutboxEvent

logger = logging.getLogger(__name__)


def outbox_record(*, event: Event, using: str | None = None) -> OutboxEvent:
    """Store `event` in the outbox and hand it to Celery once the transaction commits."""
    row = OutboxEvent.objects.using(using).create(name=event.event_name(), payload=event.payload())
    transaction.on_commit(lambda: outbox_enqueue(outbox_id=row.pk), using=using, robust=True)
    return row


def outbox_enqueue(*, outbox_id: int) -> bool:
    """Send one outbox row to the broker; False (and the sweeper retries) when that fails."""
    from apps.core.tasks import outbox_dispatch_task

    try:
        # A broker that takes the connection but never confirms (paused, or blocking publishers
        # on a resource alarm) would hold the customer's request for as long as it lasts.
        outbox_dispatch_task.apply_async(
            kwargs={"outbox_id": outbox_id},
            confirm_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,  # type: ignore[call-arg]
        )
    except Exception:
        logger.warning("broker unavailable; outbox row %s left for the sweeper", outbox_id)
        return False
    return True


def outbox_dispatch_row(*, outbox_id: int) -> bool:
    """Deliver one outbox row to its subscribers, once; return whether it was delivered now."""
    try:
        with transaction.atomic():
            row = OutboxEvent.objects.select_for_update().filter(pk=outbox_id).first()
            if row is None or row.dispatched_at is not None:
                return False
            deliver(Event.from_payload(row.name, row.payload))
            row.attempts += 1
            row.dispatched_at = timezone.now()
            row.last_error = ""
            row.save(update_fields=["attempts", "dispatched_at", "last_error"])
    except Exception as exc:
        # Outside the rolled-back transaction, so the count and the reason survive for the retry.
        OutboxEvent.objects.filter(pk=outbox_id).update(
            attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    return True


def outbox_sweep(*, older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> int:
    """Re-send undelivered rows older than `older_than`; return how many were sent."""
    cutoff = timezone.now() - older_than
    ids = list(
        OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    return sum(1 for outbox_id in ids if outbox_enqueue(outbox_id=outbox_id))
