"""Stripe's webhook events, applied once: the event row and the order change commit together.

Stripe delivers an event at least once, in no particular order, and retries anything that is
not answered with a 2xx. So every event is stored by its id (unique) in the same transaction
as what it changes: a redelivery finds the row and changes nothing, a failure rolls both back
and Stripe's retry starts afresh. Events that cannot be applied (an unknown order, a partial
refund) are recorded with their outcome and answered 200, or Stripe would retry them forever.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction

from apps.core.errors import DomainError
from apps.store.models import Order, StripeEvent
from apps.store.services.payment import order_mark_paid
from apps.store.services.refunds import order_refund

logger = logging.getLogger(__name__)

GATEWAY = "stripe"
REFUND_REASON = "Refunded in Stripe"


class StripeEventInvalid(DomainError):
    """A signed payload that is not a Stripe event this code can read."""

    code = "event_invalid"


@dataclass(frozen=True)
class ParsedEvent:
    event_id: str
    type: str
    created: datetime
    object: dict[str, Any]
    payload: dict[str, Any]


@dataclass(frozen=True)
class EventApplied:
    outcome: str
    order_id: int | None = None
    # True when this event id was stored before: nothing was done this time.
    duplicate: bool = False


def stripe_event_parse(*, payload: object) -> ParsedEvent:
    """Read the fields this module needs from a decoded event; raise StripeEventInvalid."""
    if not isinstance(payload, dict):
        raise StripeEventInvalid("The payload is not a JSON object.")
    event_id, event_type, created = payload.get("id"), payload.get("type"), payload.get("created")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 255:
        raise StripeEventInvalid("The event has no usable id.")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        raise StripeEventInvalid("The event has no usable type.")
    # bool is an int to Python; the bounds keep fromtimestamp() from overflowing.
    if isinstance(created, bool) or not isinstance(created, int) or not 0 < created < 2**35:
        raise StripeEventInvalid("The event has no usable creation time.")
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise StripeEventInvalid("The event carries no object.")
    return ParsedEvent(
        event_id=event_id,
        type=event_type,
        created=datetime.fromtimestamp(created, tz=UTC),
        object=obj,
        payload=payload,
    )


def stripe_event_record(*, event: ParsedEvent) -> EventApplied:
    """Store `event` once and apply it to its order in the same transaction."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = StripeEvent.objects.create(
                    event_id=event.event_id,
                    type=event.type,
                    created=event.created,
                    payload=event.payload,
                )
        except IntegrityError:
            # A concurrent delivery waits on the unique index until the first one commits.
            if not StripeEvent.objects.filter(event_id=event.event_id).exists():
                raise
            return EventApplied(outcome="duplicate", duplicate=True)
        handler = HANDLERS.get(event.type)
        applied = handler(event) if handler is not None else EventApplied(outcome="ignored")
        row.order_id = applied.order_id
        row.outcome = applied.outcome[:200]
        row.save(update_fields=["order", "outcome"])
    return applied


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _id(value: object) -> str:
    """Return the id of a reference Stripe may send as a string or as an expanded object."""
    if isinstance(value, dict):
        return _text(value.get("id"))
    return _text(value)


def _order_locked(*, number: str, reference: str) -> Order | None:
    """Find the order by the number Depot gave Stripe, else by the gateway's reference."""
    orders = Order.objects.select_for_update()
    if number:
        order = orders.filter(number=number).first()
        if order is not None:
            return order
    if reference:
        return orders.filter(gateway=GATEWAY, gateway_reference=reference).first()
    return None


def _session_paid(event: ParsedEvent) -> EventApplied:
    session = event.object
    metadata = _dict(session.get("metadata"))
    order = _order_locked(
        number=_text(session.get("client_reference_id")) or _text(metadata.get("order_number")),
        reference=_id(session.get("id")),
    )
    if order is None:
        logger.warning("Stripe event %s names no known order", event.event_id)
        return EventApplied(outcome="order_unknown")
    if event.type == "checkout.session.completed" and session.get("payment_status") != "paid":
        # A delayed method (a bank debit): async_payment_succeeded follows when it clears.
        return EventApplied(outcome="awaiting_payment", order_id=order.pk)
    amount, currency = session.get("amount_total"), _text(session.get("currency"))
    if amount != order.total or currency.lower() != order.currency.lower():
        logger.error(
            "Stripe event %s: %s %s paid for order %s of %s %s; not marked paid",
            event.event_id,
            amount,
            currency,
            order.number,
            order.total,
            order.currency,
        )
        return EventApplied(
            outcome=f"amount_mismatch: Stripe {amount} {currency}, order {order.total} "
            f"{order.currency}",
            order_id=order.pk,
        )
    before = order.status
    order = order_mark_paid(
        order_id=order.pk, gateway=GATEWAY, reference=_id(session.get("payment_intent"))
    )
    if before in (Order.Status.PENDING, Order.Status.FAILED):
        return EventApplied(outcome="paid", order_id=order.pk)
    if before == Order.Status.PAID:
        return EventApplied(outcome="already_paid", order_id=order.pk)
    # Refunded before this event arrived, or cancelled as abandoned: the money stays in Stripe.
    logger.error("Stripe paid order %s, which is %s: refund it in Stripe", order.number, before)
    return EventApplied(outcome=f"not_paid: the order is {before}", order_id=order.pk)


def _charge_refunded(event: ParsedEvent) -> EventApplied:
    charge = event.object
    metadata = _dict(charge.get("metadata"))
    order = _order_locked(
        number=_text(metadata.get("order_number")), reference=_id(charge.get("payment_intent"))
    )
    if order is None:
        logger.warning("Stripe event %s names no known order", event.event_id)
        return EventApplied(outcome="order_unknown")
    if charge.get("refunded") is not True:
        # Stripe sets `refunded` only once the whole amount is back; a partial refund is a
        # gesture that leaves the licenses in place.
        return EventApplied(outcome="partial_refund: order left as it is", order_id=order.pk)
    before = order.status
    try:
        order_refund(order_id=order.pk, via_gateway=False, reason=REFUND_REASON)
    except DomainError as refused:
        logger.error("Stripe refunded order %s, refused here: %s", order.number, refused.message)
        return EventApplied(outcome=f"refund_refused: {refused.message}", order_id=order.pk)
    if before == Order.Status.REFUNDED:
        return EventApplied(outcome="already_refunded", order_id=order.pk)
    return EventApplied(outcome="refunded", order_id=order.pk)


HANDLERS: dict[str, Callable[[ParsedEvent], EventApplied]] = {
    "checkout.session.completed": _session_paid,
    "checkout.session.async_payment_succeeded": _session_paid,
    "charge.refunded": _charge_refunded,
}
