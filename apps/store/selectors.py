from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.licenses.models import Product
from apps.store.models import Order, PriceTier


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
