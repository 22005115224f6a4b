"""Writes of the store, one module per job; this package is the store's public write surface.

The purchase path: `checkout.checkout_place` writes the pending order (once per checkout form,
however often it is submitted), `payment.order_pay` charges it through the gateway, and
`payment.order_mark_paid` records the payment together with a durable `OrderPaid` outbox row.
Everything after that (licenses, receipt) runs in Celery: `fulfilment.order_fulfil` issues,
renews or upgrades each line's license exactly once and announces `OrderFulfilled`, which the
receipt waits for. `refunds` takes money and licenses back; `stripe_events` applies Stripe's
webhook events to orders; `catalogue` and `customers` are the writes the admin, commands and
imports share.

Other apps import the names below from `apps.store.services`; the store's own modules import
from the job module.
"""

from apps.store.services.catalogue import coupon_upsert, tier_import, tier_upsert
from apps.store.services.checkout import (
    CheckoutRefused,
    LineRequest,
    Placed,
    checkout_place,
    order_create,
    pending_orders_expire,
)
from apps.store.services.customers import customer_for_email, customers_import, username_unique
from apps.store.services.fulfilment import order_fulfil
from apps.store.services.payment import PayOutcome, order_mark_paid, order_pay
from apps.store.services.refunds import order_refund

__all__ = [
    "CheckoutRefused",
    "LineRequest",
    "PayOutcome",
    "Placed",
    "checkout_place",
    "coupon_upsert",
    "customer_for_email",
    "customers_import",
    "order_create",
    "order_fulfil",
    "order_mark_paid",
    "order_pay",
    "order_refund",
    "pending_orders_expire",
    "tier_import",
    "tier_upsert",
    "username_unique",
]
