"""Prices of what a customer buys: tiers, renewals, prorated upgrades and coupons, in minor units.

Pure functions over model instances; nothing here writes. Every amount is an integer number
of the store currency's minor units (cents), rounded in the customer's favour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from apps.core.errors import DomainError
from apps.store.models import Coupon, PriceTier

YEAR_DAYS = 365


class CouponRefused(DomainError):
    """A coupon code that cannot be used for this cart; the message says why."""

    code = "coupon_invalid"


@dataclass(frozen=True)
class PricedLine:
    """One line of a cart or order with its price worked out."""

    tier: PriceTier
    kind: str
    unit_amount: int
    license_id: int | None = None
    discount: int = 0

    @property
    def total(self) -> int:
        return self.unit_amount - self.discount


def tier_on_sale(tier: PriceTier | None) -> bool:
    """Whether `tier` can be bought now: the tier and its product are both still sold.

    `tier.product` is read, so load it with the tier (select_related) where that matters.
    """
    return tier is not None and tier.is_active and tier.product.is_active


def renewal_discount_percent() -> int:
    """Return DEPOT_RENEWAL_DISCOUNT_PERCENT held to 0-100, as renewals are priced and shown."""
    return max(0, min(100, int(settings.DEPOT_RENEWAL_DISCOUNT_PERCENT)))


def renewal_amount(*, tier: PriceTier) -> int:
    """Return the renewal price of `tier`: its price less the renewal discount from settings."""
    return tier.amount * (100 - renewal_discount_percent()) // 100


def upgrade_amount(
    *,
    current: PriceTier,
    target: PriceTier,
    expires_at: datetime | None,
    now: datetime | None = None,
) -> int:
    """Return the prorated price of moving a license from `current` to `target`.

    A yearly license keeps its expiry, so it pays the difference between the tiers for the
    days it has left. Moving to a lifetime tier credits what is left of the yearly license.
    """
    now = now or timezone.now()
    if expires_at is None:
        remaining = 1.0  # a lifetime license has its whole price left
    else:
        remaining = max(0.0, min(1.0, (expires_at - now).total_seconds() / (YEAR_DAYS * 86400)))
    if target.term == PriceTier.Term.LIFETIME:
        return max(0, target.amount - int(current.amount * remaining))
    return max(0, int((target.amount - current.amount) * remaining))


def is_upgrade(*, current: PriceTier, target: PriceTier) -> bool:
    """Whether `target` gives more than `current`: more sites, or lifetime instead of a year."""
    if target.product_id != current.product_id or target.pk == current.pk:
        return False

    def sites(tier: PriceTier) -> float:
        return float("inf") if tier.sites_allowed == 0 else tier.sites_allowed

    more_sites = sites(target) > sites(current)
    longer = target.term == PriceTier.Term.LIFETIME and current.term != PriceTier.Term.LIFETIME
    fewer = sites(target) < sites(current)
    shorter = target.term != PriceTier.Term.LIFETIME and current.term == PriceTier.Term.LIFETIME
    return (more_sites or longer) and not (fewer or shorter)


def coupon_refusal(
    coupon: Coupon | None, *, lines: list[PricedLine], now: datetime | None = None
) -> CouponRefused | None:
    """Return why `coupon` cannot be used for `lines`, or None when it can."""
    now = now or timezone.now()
    if coupon is None or not coupon.is_active:
        return CouponRefused("This coupon code does not exist.", code="coupon_unknown")
    if coupon.expires_at is not None and coupon.expires_at <= now:
        return CouponRefused("This coupon has expired.", code="coupon_expired")
    if coupon.usage_limit is not None and coupon.times_used >= coupon.usage_limit:
        return CouponRefused("This coupon has been used up.", code="coupon_used_up")
    if not any(_eligible(coupon, line) for line in lines):
        return CouponRefused(
            "This coupon does not apply to anything in your cart.", code="coupon_not_applicable"
        )
    return None


def _eligible(coupon: Coupon, line: PricedLine) -> bool:
    # No products without the flag means nothing (its products were deleted), never everything.
    if coupon.all_products:
        return True
    return any(product.pk == line.tier.product_id for product in coupon.products.all())


def coupon_apply(coupon: Coupon, *, lines: list[PricedLine]) -> list[PricedLine]:
    """Return `lines` with the coupon's discount spread over the lines it applies to."""
    eligible = [i for i, line in enumerate(lines) if _eligible(coupon, line)]
    base = sum(lines[i].unit_amount for i in eligible)
    if coupon.kind == Coupon.Kind.PERCENT:
        total_off = base * min(coupon.value, 100) // 100
    else:
        total_off = min(coupon.value, base)
    discounts = [0] * len(lines)
    left = total_off
    for n, i in enumerate(eligible):
        # Spread in proportion to each line's price; the last eligible line takes the rest.
        share = left if n == len(eligible) - 1 else total_off * lines[i].unit_amount // (base or 1)
        share = min(share, lines[i].unit_amount, left)
        discounts[i] = share
        left -= share
    return [
        PricedLine(
            tier=line.tier,
            kind=line.kind,
            unit_amount=line.unit_amount,
            license_id=line.license_id,
            discount=discounts[i],
        )
        for i, line in enumerate(lines)
    ]
