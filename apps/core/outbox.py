"""The transactional outbox: events that must be delivered even if the broker is down.

A row remembers who caused it (the trace context and request id current when it was written),
and its delivery task is sent under that context, whether at commit or later by the sweeper:
so a purchase is one trace from the POST to the receipt, and the task's log lines carry the
request id of the checkout. With tracing off the context holds the request id only.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.events import Event, deliver
from apps.core.logging import request_id_get, request_id_reset, request_id_set
from apps.core.models import OutboxEvent

logger = logging.getLogger(__name__)

_REQUEST_ID = "request_id"


def outbox_record(*, event: Event, using: str | None = None) -> OutboxEvent:
    """Store `event` in the outbox and hand it to Celery once the transaction commits."""
    caused_by = _context_capture()
    row = OutboxEvent.objects.using(using).create(
        name=event.event_name(), payload=event.payload(), trace_context=caused_by
    )
    transaction.on_commit(
        lambda: outbox_enqueue(outbox_id=row.pk, trace_context=caused_by), using=using, robust=True
    )
    return row


def outbox_enqueue(*, outbox_id: int, trace_context: dict[str, Any] | None = None) -> bool:
    """Send one outbox row to the broker; False (and the sweeper retries) when that fails.

    `trace_context` is the row's: the task is sent (and so runs) in the trace and with the
    request id of what wrote the row, not of whoever sends it now (the sweeper).
    """
    from apps.core.tasks import outbox_dispatch_task

    try:
        with _context_restored(trace_context or {}):
            # A broker that takes the connection but never confirms (paused, or blocking
            # publishers on a resource alarm) would hold the customer's request for as long
            # as it lasts.
            outbox_dispatch_task.apply_async(
                kwargs={"outbox_id": outbox_id},
                confirm_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,  # type: ignore[call-arg]
            )
    except Exception:
        logger.warning("broker unavailable; outbox row %s left for the sweeper", outbox_id)
        return False
    return True


def _context_capture() -> dict[str, Any]:
    """Return the current trace context (W3C headers) and request id, for an outbox row."""
    carrier: dict[str, Any] = {}
    with contextlib.suppress(ImportError):
        from opentelemetry import trace

        # With tracing off there is no valid span, and nothing to write (or to pay for).
        if trace.get_current_span().get_span_context().is_valid:
            from opentelemetry import propagate

            propagate.inject(carrier)
    if request_id := request_id_get():
        carrier[_REQUEST_ID] = request_id
    return carrier


@contextlib.contextmanager
def _context_restored(carrier: dict[str, Any]) -> Iterator[None]:
    """Make a row's trace context and request id current while its task is sent."""
    if not carrier:
        yield
        return
    token = request_id_set(carrier[_REQUEST_ID]) if _REQUEST_ID in carrier else None
    attached = None
    try:
        if "traceparent" in carrier:
            from opentelemetry import context, propagate

            attached = context.attach(propagate.extract(carrier))
        yield
    finally:
        if attached is not None:
            context.detach(attached)
        if token is not None:
            request_id_reset(token)


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
    rows = list(
        OutboxEvent.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff)
        .order_by("id")
        .values_list("id", "trace_context")[:limit]
    )
    return sum(
        1
        for outbox_id, trace_context in rows
        if outbox_enqueue(outbox_id=outbox_id, trace_context=trace_context)
    )
