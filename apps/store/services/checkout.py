"""Checkout: the pending order, written once per checkout form, and expiring the abandoned ones."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.errors import DomainError
from apps.store.cart import PricedCart
from apps.store.models import Coupon, Order, OrderLine, PriceTier
from apps.store.pricing import CouponRefused, coupon_refusal


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
    """Create a pending order for `lines`, with totals in minor units (admin and demo use)."""
    if not lines:
        raise ValueError("an order needs at least one line")
    order = Order.objects.create(
        number=number or order_number_new(),
        email=email,
        name=name,
        country=country,
        customer=customer,
        currency=lines[0].tier.currency,
        access_key=secrets.token_urlsafe(24),
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


class CheckoutRefused(DomainError):
    """The checkout cannot go ahead as submitted; the message says what to fix."""

    code = "checkout_invalid"


@dataclass(frozen=True)
class Placed:
    order: Order
    # False when the same checkout form had already placed this order.
    created: bool


def checkout_place(
    *,
    checkout_token: str,
    cart: PricedCart,
    email: str,
    name: str,
    country: str,
    user: User | None,
) -> Placed:
    """Write the pending order for `cart`, once per `checkout_token`.

    The token is unique on the order, so a double-clicked or re-sent form (even twenty
    concurrent submissions) finds the one order instead of making another; a declined one is
    opened again for the next attempt. A guest's order has no customer until it is paid.
    """
    existing = Order.objects.filter(checkout_token=checkout_token).first()
    if existing is not None:
        if existing.status == Order.Status.FAILED:
            existing = _order_reopen(order_id=existing.pk, cart=cart)
        return Placed(order=existing, created=False)
    if cart.is_empty:
        raise CheckoutRefused("Your cart is empty.", code="cart_empty")
    if cart.coupon_error is not None:
        raise cart.coupon_error
    try:
        with transaction.atomic():
            order = _order_write(
                checkout_token=checkout_token,
                cart=cart,
                email=email,
                name=name,
                country=country,
                customer=user,
            )
    except IntegrityError:
        winner = Order.objects.filter(checkout_token=checkout_token).first()
        if winner is None:
            raise
        return Placed(order=winner, created=False)
    return Placed(order=order, created=True)


@transaction.atomic
def _order_reopen(*, order_id: int, cart: PricedCart) -> Order:
    """Make a declined checkout pending again for another card, claiming its coupon again."""
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status != Order.Status.FAILED:
        return order
    if order.coupon_id is not None:
        coupon = Coupon.objects.select_for_update().get(pk=order.coupon_id)
        refusal: CouponRefused | None = coupon_refusal(coupon, lines=cart.lines)
        if refusal is not None:
            # Its last use went to another order after the decline freed it.
            raise refusal
        Coupon.objects.filter(pk=coupon.pk).update(times_used=F("times_used") + 1)
    order.status = Order.Status.PENDING
    order.save(update_fields=["status", "updated_at"])
    return order


def _order_write(
    *,
    checkout_token: str,
    cart: PricedCart,
    email: str,
    name: str,
    country: str,
    customer: User | None,
) -> Order:
    coupon = None
    if cart.coupon is not None:
        # Locked and checked again: the last use of a limited coupon goes to one order only.
        coupon = Coupon.objects.select_for_update().get(pk=cart.coupon.pk)
        refusal: CouponRefused | None = coupon_refusal(coupon, lines=cart.lines)
        if refusal is not None:
            raise refusal
        Coupon.objects.filter(pk=coupon.pk).update(times_used=F("times_used") + 1)
    order = Order.objects.create(
        number=order_number_new(),
        checkout_token=checkout_token,
        access_key=secrets.token_urlsafe(24),
        email=email,
        name=name,
        country=country,
        customer=customer,
        currency=cart.currency,
        coupon=coupon,
        subtotal=cart.subtotal,
        discount=cart.discount,
        total=cart.total,
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                product=line.tier.product,
                tier=line.tier,
                kind=line.kind,
                unit_amount=line.unit_amount,
                discount=line.discount,
                total=line.total,
                license_id=line.license_id,
            )
            for line in cart.lines
        ]
    )
    return order


def coupon_release(order: Order) -> None:
    if order.coupon_id is not None:
        Coupon.objects.filter(pk=order.coupon_id, times_used__gt=0).update(
            times_used=F("times_used") - 1
        )


def pending_orders_expire(*, older_than: timedelta = timedelta(days=2)) -> int:
    """Cancel checkouts never paid and give their coupon uses back; return how many."""
    cutoff = timezone.now() - older_than
    count = 0
    for order_id in Order.objects.filter(
        status=Order.Status.PENDING, created_at__lt=cutoff
    ).values_list("pk", flat=True):
        with transaction.atomic():
            order = Order.objects.select_for_update().get(pk=order_id)
            if order.status != Order.Status.PENDING:
                continue
            order.status = Order.Status.CANCELLED
            order.save(update_fields=["status", "updated_at"])
            coupon_release(order)
            count += 1
    return count
