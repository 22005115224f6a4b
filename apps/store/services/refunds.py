"""Refunds: money back through the gateway, licenses taken back, `OrderRefunded` announced."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict
from apps.core.events import publish_durable
from apps.licenses import services as license_services
from apps.store.events import OrderRefunded
from apps.store.gateways import gateway_get
from apps.store.models import Order, OrderLine, Payment
from apps.store.services.payment import FREE_GATEWAY


def order_refund(*, order_id: int, via_gateway: bool = True, reason: str = "") -> Order:
    """Refund an order: give the money back, revoke the licenses it paid for, tell the customer.

    `via_gateway=False` records a refund the gateway already made (a Stripe webhook). A
    refund that arrives before the payment (webhooks out of order) marks the pending order
    refunded, and it never becomes paid afterwards. Refunding twice changes nothing.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status == Order.Status.REFUNDED:
            return order
        if order.status not in (Order.Status.PAID, Order.Status.PENDING) or (
            order.status == Order.Status.PENDING and via_gateway
        ):
            raise Conflict(f"Order {order.number} has not been paid: there is nothing to refund.")
        if order.status == Order.Status.PENDING:
            # Refunded before the payment was reported: the pending attempt is what came back.
            Payment.objects.filter(order=order, status=Payment.Status.PENDING).update(
                status=Payment.Status.REFUNDED, updated_at=timezone.now()
            )
        elif order.total and order.gateway not in ("", FREE_GATEWAY):
            # Through the gateway, or recorded as the gateway reported it (a webhook).
            reference = (
                gateway_get(order.gateway).refund(
                    order=order, idempotency_key=f"refund-{order.number}"
                )
                if via_gateway
                else ""
            )
            Payment.objects.create(
                order=order,
                gateway=order.gateway,
                status=Payment.Status.REFUNDED,
                amount=order.total,
                currency=order.currency,
                reference=reference,
                idempotency_key=f"refund-{order.number}",
                error=reason[:300],
            )
        _licenses_take_back(order)
        order.status = Order.Status.REFUNDED
        order.refunded_at = timezone.now()
        order.save(update_fields=["status", "refunded_at", "updated_at"])
        publish_durable(OrderRefunded(order_id=order.pk))
    return order


def _licenses_take_back(order: Order) -> None:
    """Revoke the licenses `order` issued and undo the renewals and upgrades it paid for."""
    for line in order.lines.filter(fulfilled_at__isnull=False).select_related("previous_tier"):
        if line.license_id is None:
            continue
        if line.kind == OrderLine.Kind.NEW:
            license_services.license_revoke(license_id=line.license_id)
        elif line.kind == OrderLine.Kind.RENEWAL:
            license_services.license_expiry_set(
                license_id=line.license_id, expires_at=line.previous_expires_at
            )
        elif line.kind == OrderLine.Kind.UPGRADE and line.previous_tier is not None:
            license_services.license_change_tier(
                license_id=line.license_id,
                activation_limit=line.previous_tier.sites_allowed,
                price_id=line.previous_tier.pk,
            )
            license_services.license_expiry_set(
                license_id=line.license_id, expires_at=line.previous_expires_at
            )
