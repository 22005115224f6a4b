"""Payment: charge a pending order through its gateway and record it paid with `OrderPaid`."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.events import publish_durable
from apps.store.events import OrderPaid
from apps.store.gateways import Gateway, GatewayUnavailable, PaymentDeclined, gateway_get
from apps.store.models import Coupon, Order, Payment
from apps.store.services.checkout import coupon_release
from apps.store.services.customers import customer_for_email

FREE_GATEWAY = "free"


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
        payment = _payment_for_attempt(order, gateway)
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
            coupon_release(order)
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


def _payment_for_attempt(order: Order, gateway: Gateway) -> Payment:
    """The payment row this attempt charges: a new one per card attempt."""
    if not gateway.takes_card_details:
        # A hosted page was already opened for this order: Stripe answers the same session
        # again (same idempotency key), so the pending payment is the same too.
        pending = order.payments.filter(gateway=gateway.name, status=Payment.Status.PENDING)
        payment = pending.first()
        if payment is not None:
            return payment
    attempt = order.payments.count() + 1
    return Payment.objects.create(
        order=order,
        gateway=gateway.name,
        amount=order.total,
        currency=order.currency,
        idempotency_key=f"{order.number}-{attempt}",
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
