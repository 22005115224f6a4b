"""Writes of the webhooks app: endpoints, events recorded for them, each try and its outcome."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.webhooks.crypto import secret_decrypt, secret_encrypt, secret_generate
from apps.webhooks.models import EVENT_TYPES, Delivery, DeliveryAttempt, Endpoint, WebhookEvent
from apps.webhooks.transport import SIGNATURE_HEADER, signature_header, webhook_post

logger = logging.getLogger(__name__)

# Longer than a try can take (connect + read timeouts and the writes around them), so a
# duplicate task never sends while the first is still waiting for an answer.
CLAIM_SECONDS = 60


def endpoint_create(
    *, url: str, events: Collection[str], description: str = "", is_active: bool = True
) -> tuple[Endpoint, str]:
    """Create an endpoint with a fresh secret; return it and the secret (shown once)."""
    unknown = set(events) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event types: {sorted(unknown)}")
    secret = secret_generate()
    endpoint = Endpoint.objects.create(
        url=url,
        events=[name for name in EVENT_TYPES if name in events],
        description=description,
        is_active=is_active,
        secret_encrypted=secret_encrypt(secret),
        secret_hint=secret[-4:],
    )
    return endpoint, secret


def endpoint_save(*, endpoint: Endpoint) -> Endpoint:
    """Save an endpoint edited in the admin; turning it back on clears the failure run."""
    if endpoint.is_active:
        endpoint.consecutive_failures = 0
        endpoint.disabled_at = None
        endpoint.disabled_reason = ""
    endpoint.save()
    if endpoint.is_active:
        _pending_enqueue(Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING))
    return endpoint


def webhook_event_record(*, type: str, data: dict[str, Any]) -> WebhookEvent | None:
    """Record one event for every active endpoint that wants `type`; send them after commit.

    Runs in the subscriber of a durable domain event, so inside the outbox row's transaction:
    the event, its deliveries and the outbox row's "delivered" mark commit together or not
    at all, and an event is recorded exactly once however often the outbox retries.
    """
    # An endpoint turned off after failures (disabled_at) keeps collecting, so turning it on
    # again catches up; one the vendor turned off by hand does not.
    endpoint_ids = [
        endpoint.pk
        for endpoint in Endpoint.objects.filter(
            Q(is_active=True) | Q(disabled_at__isnull=False)
        ).only("pk", "events")
        if type in endpoint.events
    ]
    if not endpoint_ids:
        return None
    created = timezone.now()
    event_id = f"evt_{uuid.uuid4().hex}"
    body = json.dumps(
        {"id": event_id, "type": type, "created": created.isoformat(), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )
    event = WebhookEvent.objects.create(event_id=event_id, type=type, created=created, body=body)
    deliveries = Delivery.objects.bulk_create(
        Delivery(endpoint_id=endpoint_id, event=event, next_attempt_at=created)
        for endpoint_id in endpoint_ids
    )
    ids = [delivery.pk for delivery in deliveries]
    if any(pk is None for pk in ids):  # a backend that returns no ids from bulk_create
        ids = list(Delivery.objects.filter(event=event).values_list("pk", flat=True))
    transaction.on_commit(lambda: _enqueue(ids), robust=True)
    return event


def _enqueue(delivery_ids: Collection[int]) -> None:
    from apps.webhooks.tasks import webhook_deliver_task

    for delivery_id in delivery_ids:
        try:
            webhook_deliver_task.delay(delivery_id=delivery_id)
        except Exception:
            # Left pending: webhook_deliveries_sweep_task sends it once the broker is back.
            logger.warning(
                "broker unavailable; webhook delivery %s left for the sweeper", delivery_id
            )


def _pending_enqueue(deliveries: Any) -> None:
    ids = list(deliveries.values_list("pk", flat=True))
    transaction.on_commit(lambda: _enqueue(ids), robust=True)


def retry_delay(attempts: int) -> float:
    """Return the wait after the `attempts`-th failed try: doubling from the base, capped."""
    base = settings.DEPOT_WEBHOOKS_RETRY_BASE_SECONDS
    return float(min(base * 2 ** (attempts - 1), settings.DEPOT_WEBHOOKS_RETRY_MAX_SECONDS))


@dataclass(frozen=True)
class Outcome:
    """What one run of the delivery task did, and when it should run again (None: never)."""

    tried: bool
    retry_in: float | None = None


def _claim(delivery_id: int, now: datetime) -> bool:
    # A conditional UPDATE, not a lock held over the HTTP request: of two tasks for the same
    # delivery (a duplicate, the sweeper's), one wins and the other skips.
    return bool(
        Delivery.objects.filter(
            pk=delivery_id,
            status=Delivery.Status.PENDING,
            endpoint__is_active=True,
            next_attempt_at__lte=now + timedelta(seconds=1),
        )
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    )


def delivery_attempt(*, delivery_id: int) -> Outcome:
    """Try a due delivery once: sign, POST, record the try; schedule or give up on failure."""
    now = timezone.now()
    if not _claim(delivery_id, now):
        return Outcome(tried=False)
    delivery = Delivery.objects.select_related("endpoint", "event").get(pk=delivery_id)
    endpoint, event = delivery.endpoint, delivery.event
    body = event.body.encode()
    timestamp = int(time.time())
    answer = webhook_post(
        url=endpoint.url,
        body=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Depot-Webhooks/1",
            "Depot-Event-Id": event.event_id,
            "Depot-Event-Type": event.type,
            SIGNATURE_HEADER: signature_header(
                secret=secret_decrypt(endpoint.secret_encrypted), body=body, timestamp=timestamp
            ),
        },
    )
    number = delivery.attempts + 1
    retry_in: float | None = None
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=now,
            duration_ms=answer.duration_ms,
            succeeded=answer.succeeded,
            response_code=answer.status,
            response_body=answer.body,
            error=answer.error,
        )
        fields: dict[str, Any] = {
            "attempts": number,
            "response_code": answer.status,
            "claimed_until": None,
        }
        if answer.succeeded:
            fields.update(status=Delivery.Status.SUCCEEDED, delivered_at=timezone.now())
            fields["next_attempt_at"] = None
            Endpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
        elif number < settings.DEPOT_WEBHOOKS_MAX_ATTEMPTS:
            retry_in = retry_delay(number)
            fields["next_attempt_at"] = timezone.now() + timedelta(seconds=retry_in)
        else:
            fields.update(status=Delivery.Status.FAILED, next_attempt_at=None)
        Delivery.objects.filter(pk=delivery.pk).update(**fields)
        if not answer.succeeded:
            _failure_count(endpoint_id=endpoint.pk, reason=answer.error or f"HTTP {answer.status}")
    return Outcome(tried=True, retry_in=retry_in)


def _failure_count(*, endpoint_id: int, reason: str) -> None:
    """Count a failed try; past the limit, turn the endpoint off and tell the vendor, once."""
    Endpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    limit = settings.DEPOT_WEBHOOKS_DISABLE_AFTER
    # Conditional, so of two workers failing at once only one turns it off and writes.
    turned_off = Endpoint.objects.filter(
        pk=endpoint_id, is_active=True, consecutive_failures__gte=limit
    ).update(
        is_active=False,
        disabled_at=timezone.now(),
        disabled_reason=f"{limit} failures in a row; the last: {reason}"[:300],
    )
    if turned_off:
        endpoint = Endpoint.objects.get(pk=endpoint_id)
        transaction.on_commit(lambda: _vendor_tell(endpoint), robust=True)


def _vendor_tell(endpoint: Endpoint) -> None:
    recipients = (
        [settings.DEPOT_WEBHOOKS_ALERT_EMAIL]
        if settings.DEPOT_WEBHOOKS_ALERT_EMAIL
        else [address for _, address in settings.ADMINS]
    )
    if not recipients:
        logger.error(
            "webhook endpoint %s turned off; no DEPOT_WEBHOOKS_ALERT_EMAIL or ADMINS to tell",
            endpoint.url,
        )
        return
    send_mail(
        subject=f"[{settings.DEPOT_SITE_NAME}] Webhook endpoint turned off: {endpoint.url}",
        message=(
            f"Depot stopped sending webhooks to {endpoint.url} after "
            f"{endpoint.consecutive_failures} failed tries in a row.\n\n"
            f"The last failure: {endpoint.disabled_reason}\n\n"
            "Events that happen meanwhile are still recorded. Fix the receiver, then tick "
            "'Is active' on the endpoint in the admin (Webhooks → Endpoints): the deliveries "
            "still pending are sent again, and failed ones can be replayed from the "
            "Deliveries list.\n"
        ),
        from_email=None,
        recipient_list=recipients,
    )


def deliveries_replay(*, delivery_ids: Collection[int]) -> int:
    """Send these deliveries again now, the same event id and body; return how many."""
    now = timezone.now()
    with transaction.atomic():
        rows = Delivery.objects.filter(pk__in=list(delivery_ids))
        changed = rows.update(
            status=Delivery.Status.PENDING, next_attempt_at=now, claimed_until=None
        )
        _pending_enqueue(rows)
    return changed


def deliveries_sweep(*, grace_seconds: int = 60, limit: int = 500) -> int:
    """Send again pending deliveries whose try is overdue (broker down, long waits, lost tasks)."""
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    ids = list(
        Delivery.objects.filter(
            status=Delivery.Status.PENDING, endpoint__is_active=True, next_attempt_at__lte=cutoff
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    _enqueue(ids)
    return len(ids)
