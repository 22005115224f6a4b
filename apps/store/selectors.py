from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db.models import Prefetch, QuerySet

from apps.licenses import selectors as license_selectors
from apps.licenses.catalogue import Product
from apps.store.models import Order, OrderLine, PriceTier

if TYPE_CHECKING:
    from apps.licenses.models import License


def catalogue_products() -> QuerySet[Product]:
    """Return the products on sale, each with its active tiers prefetched in display order."""
    tiers = PriceTier.objects.filter(is_active=True).order_by("position", "amount")
    return (
        Product.objects.filter(is_active=True, tiers__is_active=True)
        .distinct()
        .prefetch_related(Prefetch("tiers", queryset=tiers, to_attr="active_tiers"))
        .order_by("name")
    )


def order_by_number(*, number: str) -> Order | None:
    """Return the order with this number, or None."""
    return Order.objects.filter(number=number).first()


@dataclass(frozen=True)
class LineView:
    """An order line with the license it issued or changed (None until fulfilment)."""

    line: OrderLine
    license: License | None


def order_lines_with_licenses(*, order: Order) -> list[LineView]:
    """Return the order's lines with their licenses, in two queries."""
    lines = list(order.lines.select_related("product", "tier").order_by("pk"))
    by_line = license_selectors.licenses_for_order_lines(order_line_ids=[line.pk for line in lines])
    by_id = license_selectors.licenses_by_ids(
        license_ids=[line.license_id for line in lines if line.license_id is not None]
    )
    return [
        LineView(
            line=line,
            license=by_line.get(line.pk)
            or (by_id.get(line.license_id) if line.license_id is not None else None),
        )
        for line in lines
    ]


def orders_of_customer(*, customer_id: int) -> list[Order]:
    """Return the customer's orders, newest first, with their lines."""
    return list(
        Order.objects.filter(customer_id=customer_id)
        .exclude(status=Order.Status.CANCELLED)
        .prefetch_related("lines__product", "lines__tier")
        .order_by("-created_at")
    )


def tiers_of_product(*, product_id: int) -> list[PriceTier]:
    """Return the active tiers of a product in display order."""
    return list(
        PriceTier.objects.filter(product_id=product_id, is_active=True).order_by(
            "position", "amount"
        )
    )


def tier_by_id(*, tier_id: int) -> PriceTier | None:
    return PriceTier.objects.select_related("product").filter(pk=tier_id).first()


def order_by_id(*, order_id: int) -> Order:
    """Return the order with this id, its customer and coupon (raises Order.DoesNotExist)."""
    return Order.objects.select_related("customer", "coupon").get(pk=order_id)


def order_with_access(*, number: str) -> Order | None:
    """Return the order with this number and its customer, or None."""
    return Order.objects.select_related("customer", "coupon").filter(number=number).first()


def product_for_store(*, slug: str) -> Product | None:
    """Return the active product with this slug, with its tiers and screenshots loaded."""
    tiers = PriceTier.objects.filter(is_active=True).order_by("position", "amount")
    return (
        Product.objects.filter(slug=slug, is_active=True)
        .prefetch_related(Prefetch("tiers", queryset=tiers, to_attr="active_tiers"), "screenshots")
        .first()
    )
