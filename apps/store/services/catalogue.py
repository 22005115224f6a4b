"""Catalogue writes: price tiers and coupons, from the admin, commands and imports."""

from __future__ import annotations

from django.db import transaction

from apps.core.errors import DomainError
from apps.licenses.catalogue import Product
from apps.store.models import Coupon, PriceTier


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
    all_products: bool,
    usage_limit: int | None = None,
    products: list[Product] | None = None,
) -> Coupon:
    """Create or update the coupon `code` (stored in capitals) for every product or `products`."""
    # The scope is always said out loud (no default): "no products" is never read as "every
    # product", and all_products=True with products named is refused too.
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
