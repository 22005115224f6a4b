"""Fulfilment, in Celery after `OrderPaid`: each line's license issued, renewed or upgraded once."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.core.events import publish_durable
from apps.licenses import selectors as license_selectors
from apps.licenses import services as license_services
from apps.licenses.events import LicenseUpgraded
from apps.store.events import OrderFulfilled
from apps.store.models import Order, OrderLine, PriceTier
from apps.store.pricing import YEAR_DAYS


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
            # Here, not in license_change_tier: a refund moves the tier back through it too.
            publish_durable(LicenseUpgraded(license_id=line.license_id))
        line.fulfilled_at = now
        line.save(
            update_fields=["license_id", "previous_expires_at", "previous_tier", "fulfilled_at"]
        )
    order.fulfilled_at = now
    order.save(update_fields=["fulfilled_at", "updated_at"])
    publish_durable(OrderFulfilled(order_id=order.pk))
    return order
