"""Writes of the store. Checkout, payments and refunds build on these."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.core.events import publish_durable
from apps.licenses.models import Product
from apps.store.events import OrderPaid
from apps.store.models import Order, OrderLine, PriceTier


def tier_upsert(
    *, product: Product, name: str, sites_allowed: int, term: str, amount: int, position: int = 0
) -> PriceTier:
    """Create or update the tier `name` of `product`."""
    tier, _ = PriceTier.objects.update_or_create(
        product=product,
        name=name,
        defaults={
            "sites_allowed": sites_allowed,
            "term": term,
            "amount": amount,
            "position": position,
        },
    )
    return tier


@dataclass(frozen=True)
class LineRequest:
    tier: PriceTier
    kind: str = OrderLine.Kind.NEW
    quantity: int = 1


def order_number_new() -> str:
    """Return a fresh, unguessable order number such as ``D-7Q2K9XHM``."""
    alphabet = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "D-" + "".join(secrets.choice(alphabet) for _ in range(8))


@transaction.atomic
def order_create(
    *,
    email: str,
    lines: list[LineRequest],
    name: str = "",
    country: str = "",
    customer: User | None = None,
    number: str | None = None,
) -> Order:
    """Create a pending order for `lines`, with totals in minor units."""
    if not lines:
        raise ValueError("an order needs at least one line")
    order = Order.objects.create(
        number=number or order_number_new(),
        email=email,
        name=name,
        country=country,
        customer=customer,
        currency=lines[0].tier.currency,
    )
    subtotal = 0
    for request in lines:
        total = request.tier.amount * request.quantity
        OrderLine.objects.create(
            order=order,
            product=request.tier.product,
            tier=request.tier,
            kind=request.kind,
            quantity=request.quantity,
            unit_amount=request.tier.amount,
            total=total,
        )
        subtotal += total
    order.subtotal = order.total = subtotal
    order.save(update_fields=["subtotal", "total"])
    return order


@transaction.atomic
def order_mark_paid(*, order_id: int, gateway: str, reference: str = "") -> Order:
    """Mark a pending order paid (idempotent: an order already paid is returned unchanged)."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status == Order.Status.PAID:
        return order
    if order.status != Order.Status.PENDING:
        raise ValueError(f"order {order.number} is {order.status}, not pending")
    order.status = Order.Status.PAID
    order.gateway = gateway
    order.gateway_reference = reference
    order.paid_at = timezone.now()
    order.save(update_fields=["status", "gateway", "gateway_reference", "paid_at", "updated_at"])
    publish_durable(OrderPaid(order_id=order.pk))
    return order
