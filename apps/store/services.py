"""Writes of the store: tiers, checkout, payment, fulfilment and refunds.

The purchase path: `checkout_place` writes the pending order (once per checkout form, however
often it is submitted), `order_pay` charges it through the gateway, and `order_mark_paid`
records the payment together with a durable `OrderPaid` outbox row. Everything after that
(licenses, receipt) runs in Celery: `order_fulfil` issues, renews or upgrades each line's
license exactly once and announces `OrderFulfilled`, which the receipt waits for.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone

from apps.core.errors import Conflict, DomainError
from apps.core.events import publish_durable
from apps.licenses import selectors as license_selectors
from apps.licenses import services as license_services
from apps.licenses.catalogue import Product
from apps.store.cart import PricedCart
from apps.store.events import OrderFulfilled, OrderPaid, OrderRefunded
from apps.store.gateways import GatewayUnavailable, PaymentDeclined, gateway_get
from apps.store.models import Coupon, Order, OrderLine, Payment, PriceTier
from apps.store.pricing import YEAR_DAYS, CouponRefused, coupon_refusal

FREE_GATEWAY = "free"


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


@transaction.atomic
def coupon_upsert(
    *,
    code: str,
    kind: str,
    value: int,
    usage_limit: int | None = None,
    all_products: bool = False,
    products: list[Product] | None = None,
) -> Coupon:
    """Create or update the coupon `code` (stored in capitals) for every product or `products`."""
    # The scope is always said out loud: "no products" is never read as "every product".
    if all_products == bool(products):
        raise DomainError(
            "Give a coupon either all_products=True or at least one product, not both.",
            code="invalid_scope",
        )
    coupon, _ = Coupon.objects.update_or_create(
        code=code.strip().upper(),
        defaults={
            "kind": kind,
            "value": value,
            "usage_limit": usage_limit,
            "all_products": all_products,
            "is_active": True,
        },
    )
    coupon.products.set(products or [])
    return coupon


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


def username_unique(email: str) -> str:
    """A username for `email` when its first 150 characters are taken by someone else.

    Staff "ada", or a long address sharing its first 150 characters: this customer gets a
    name of their own.
    """
    return f"{email[:137]}-{secrets.token_hex(6)}"


def customer_for_email(*, email: str) -> tuple[User, bool]:
    """Return the account of `email`, creating one without a password; and whether it is new.

    Only a paid order calls this (see `_paid`): an account is never made for an address
    that merely typed into a form, and nobody but the mailbox can set its password (the
    receipt and "Forgot your password?" e-mail the link; no page shows it).
    """
    email = email.strip()
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    if user is not None:
        return user, False
    username = email.lower()[:150]
    if User.objects.filter(username=username).exists():
        username = username_unique(email.lower())
    try:
        with transaction.atomic():
            user = User(username=username, email=email)
            user.set_unusable_password()
            user.save()
    except IntegrityError:
        # The same e-mail checking out at the same moment made the account first.
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        if user is None:
            raise
        return user, False
    return user, True


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


@dataclass(frozen=True)
class PayOutcome:
    order: Order
    # Where to send the customer to pay (a hosted page), or "" when it is settled.
    redirect_url: str = ""
    declined: PaymentDeclined | None = None


def order_pay(
    *, order_id: int, card: dict[str, str], return_url: str, gateway_name: str | None = None
) -> PayOutcome:
    """Charge a pending order through the gateway; a paid order is returned as it is.

    The order row stays locked while the gateway answers, so a second submission of the same
    checkout waits for the first and then finds the order paid: one order, one payment.
    """
    gateway = gateway_get(gateway_name)
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if order.status != Order.Status.PENDING:
            return PayOutcome(order=order)
        if order.total == 0:
            return PayOutcome(order=_paid(order, gateway=FREE_GATEWAY, reference=""))
        payment = None
        if not gateway.takes_card_details:
            # A hosted page was already opened for this order: Stripe answers the same
            # session again (same idempotency key), so the pending payment is the same too.
            payment = order.payments.filter(
                gateway=gateway.name, status=Payment.Status.PENDING
            ).first()
        if payment is None:
            attempt = order.payments.count() + 1
            payment = Payment.objects.create(
                order=order,
                gateway=gateway.name,
                amount=order.total,
                currency=order.currency,
                idempotency_key=f"{order.number}-{attempt}",
            )
        try:
            result = gateway.charge(
                order=order,
                idempotency_key=f"checkout-{order.number}"
                if not gateway.takes_card_details
                else payment.idempotency_key,
                card=card,
                return_url=return_url,
            )
        except PaymentDeclined as declined:
            payment.status = Payment.Status.DECLINED
            payment.error = declined.message[:300]
            payment.save(update_fields=["status", "error", "updated_at"])
            # Declined: the order holds nothing back (a limited coupon's use is free for
            # others at once) until the same form tries another card (`_order_reopen`).
            order.status = Order.Status.FAILED
            order.save(update_fields=["status", "updated_at"])
            _coupon_release(order)
            return PayOutcome(order=order, declined=declined)
        except GatewayUnavailable:
            payment.delete()
            raise
        payment.reference = result.reference
        if not result.settled:
            payment.save(update_fields=["reference", "updated_at"])
            order.gateway = gateway.name
            order.gateway_reference = result.reference
            order.save(update_fields=["gateway", "gateway_reference", "updated_at"])
            return PayOutcome(order=order, redirect_url=result.redirect_url)
        payment.status = Payment.Status.SUCCEEDED
        payment.save(update_fields=["status", "reference", "updated_at"])
        return PayOutcome(order=_paid(order, gateway=gateway.name, reference=result.reference))


def _coupon_release(order: Order) -> None:
    if order.coupon_id is not None:
        Coupon.objects.filter(pk=order.coupon_id, times_used__gt=0).update(
            times_used=F("times_used") - 1
        )


def _paid(order: Order, *, gateway: str, reference: str) -> Order:
    if order.customer_id is None:
        # A guest's order joins the account of its e-mail (made now if there is none). Only
        # a paid order does: a typed address alone never creates or joins an account.
        order.customer, _ = customer_for_email(email=order.email)
    order.status = Order.Status.PAID
    order.gateway = gateway
    order.gateway_reference = reference
    order.paid_at = timezone.now()
    order.save(
        update_fields=[
            "status",
            "customer",
            "gateway",
            "gateway_reference",
            "paid_at",
            "updated_at",
        ]
    )
    # In the same transaction as the status: the outbox row is the promise of fulfilment.
    publish_durable(OrderPaid(order_id=order.pk))
    return order


@transaction.atomic
def order_mark_paid(*, order_id: int, gateway: str, reference: str = "") -> Order:
    """Record that a pending order was paid (a webhook); paid, refunded or cancelled stay so.

    Idempotent and safe against out-of-order events: an order already refunded is never
    made paid again.
    """
    order = Order.objects.select_for_update().get(pk=order_id)
    if order.status not in (Order.Status.PENDING, Order.Status.FAILED):
        return order
    Payment.objects.filter(order=order, gateway=gateway, status=Payment.Status.PENDING).update(
        status=Payment.Status.SUCCEEDED, updated_at=timezone.now()
    )
    if order.status == Order.Status.FAILED and order.coupon_id is not None:
        # Its coupon use was given back at the decline; the money came in after all.
        Coupon.objects.filter(pk=order.coupon_id).update(times_used=F("times_used") + 1)
    return _paid(order, gateway=gateway, reference=reference or order.gateway_reference)


@transaction.atomic
def order_fulfil(*, order_id: int) -> Order:
    """Give each line of a paid order its license, once; then announce `OrderFulfilled`.

    New lines get a license (unique per order line), renewals extend, upgrades change the
    tier. Each line is marked in the same transaction as its license change, so a retried or
    duplicated task skips what is done. Orders no longer paid (refunded) are left alone.
    """
    order = Order.objects.select_for_update().select_related("customer").get(pk=order_id)
    if order.status != Order.Status.PAID or order.fulfilled_at is not None:
        return order
    now = timezone.now()
    for line in order.lines.select_related("tier", "product").order_by("pk"):
        if line.fulfilled_at is not None:
            continue
        tier = line.tier
        if line.kind == OrderLine.Kind.NEW:
            license = license_services.license_issue(
                order_line_id=line.pk,
                product=line.product,
                email=order.email,
                activation_limit=tier.sites_allowed,
                term_days=None if tier.term == PriceTier.Term.LIFETIME else YEAR_DAYS,
                customer=order.customer,
                price_id=tier.pk,
            )
            line.license_id = license.pk
        elif line.kind == OrderLine.Kind.RENEWAL and line.license_id is not None:
            current = license_selectors.licenses_by_ids(license_ids=[line.license_id])
            line.previous_expires_at = current[line.license_id].expires_at if current else None
            license_services.license_renew(license_id=line.license_id, days=YEAR_DAYS)
        elif line.kind == OrderLine.Kind.UPGRADE and line.license_id is not None:
            current = license_selectors.licenses_by_ids(license_ids=[line.license_id])
            if current:
                line.previous_tier_id = current[line.license_id].price_id
                line.previous_expires_at = current[line.license_id].expires_at
            license_services.license_change_tier(
                license_id=line.license_id,
                activation_limit=tier.sites_allowed,
                price_id=tier.pk,
                lifetime=tier.term == PriceTier.Term.LIFETIME,
            )
        line.fulfilled_at = now
        line.save(
            update_fields=["license_id", "previous_expires_at", "previous_tier", "fulfilled_at"]
        )
    order.fulfilled_at = now
    order.save(update_fields=["fulfilled_at", "updated_at"])
    publish_durable(OrderFulfilled(order_id=order.pk))
    return order


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
            _coupon_release(order)
            count += 1
    return count


# --- imports from another store (manage.py import_edd) --------------------------------------


def customers_import(*, names: dict[str, str]) -> tuple[dict[str, User], int]:
    """Return the old store's customers' accounts by e-mail, creating missing ones; and how many.

    `names` maps e-mail to full name; the result is keyed by lower-case e-mail. As for a paid
    order, a new account has no password: its owner sets one through "Forgot your password?".
    Existing accounts are left as they are.
    """
    wanted = {email.strip().lower(): name for email, name in names.items() if email.strip()}
    users: dict[str, User] = {}
    existing = User.objects.annotate(email_lower=Lower("email")).filter(
        email_lower__in=list(wanted)
    )
    # The oldest account wins, as in customer_for_email.
    for found in existing.order_by("-pk"):
        users[found.email.lower()] = found
    missing = [email for email in wanted if email not in users]
    taken = set(
        User.objects.filter(username__in=[e[:150] for e in missing]).values_list(
            "username", flat=True
        )
    )
    new: list[User] = []
    for email in missing:
        username = email[:150]
        if username in taken:
            username = username_unique(email)
        first, _, last = wanted[email].strip().partition(" ")
        account = User(username=username, email=email, first_name=first[:150])
        account.last_name = last.strip()[:150]
        account.set_unusable_password()
        new.append(account)
    User.objects.bulk_create(new)
    if new:
        for made in User.objects.filter(username__in=[u.username for u in new]):
            users[made.email.lower()] = made
    return users, len(new)


def tier_import(
    *, product: Product, name: str, sites_allowed: int, term: str, amount: int, position: int
) -> tuple[PriceTier, bool]:
    """Return the tier `name` of `product`, creating it once; one that exists is left as it is."""
    return PriceTier.objects.get_or_create(
        product=product,
        name=name,
        defaults={
            "sites_allowed": sites_allowed,
            "term": term,
            "amount": amount,
            "position": position,
        },
    )
