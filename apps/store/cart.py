"""The cart, kept in the session: what the customer means to buy, priced when shown.

The session holds only ids (tier, kind, license) and the coupon code; prices are worked
out from the database each time, so a price change or an expired coupon shows at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.backends.base import SessionBase
from django.utils import timezone

from apps.core.errors import DomainError
from apps.licenses import selectors as license_selectors
from apps.store.models import Coupon, OrderLine, PriceTier
from apps.store.pricing import (
    CouponRefused,
    PricedLine,
    coupon_apply,
    coupon_refusal,
    is_upgrade,
    renewal_amount,
    tier_on_sale,
    upgrade_amount,
)

# What a cart line does (new license, renewal, upgrade), for the account pages that add lines.
LineKind = OrderLine.Kind

SESSION_KEY = "depot_cart"


class CartError(DomainError):
    """Something the customer asked to put in the cart that cannot go there."""

    code = "cart_invalid"


class CartItem(TypedDict):
    tier: int
    kind: str
    license: int | None


@dataclass
class PricedCart:
    lines: list[PricedLine] = field(default_factory=list)
    coupon: Coupon | None = None
    coupon_code: str = ""
    coupon_error: CouponRefused | None = None
    problems: list[str] = field(default_factory=list)
    currency: str = ""

    @property
    def subtotal(self) -> int:
        return sum(line.unit_amount for line in self.lines)

    @property
    def discount(self) -> int:
        return sum(line.discount for line in self.lines)

    @property
    def total(self) -> int:
        return self.subtotal - self.discount

    @property
    def is_empty(self) -> bool:
        return not self.lines


class Cart:
    """The session's cart: add, remove, set a coupon, price."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        data: dict[str, Any] = session.get(SESSION_KEY) or {}
        self.items: list[CartItem] = list(data.get("items", []))
        self.coupon_code: str = data.get("coupon", "")
        # Licenses a signed renewal link (a reminder's) lets this session renew without
        # signing in: whoever holds the owner's e-mail may pay for another year, nothing more.
        self.renewable: list[int] = list(data.get("renewable", []))

    def save(self) -> None:
        self.session[SESSION_KEY] = {
            "items": self.items,
            "coupon": self.coupon_code,
            "renewable": self.renewable,
        }

    def clear(self) -> None:
        self.items = []
        self.coupon_code = ""
        self.renewable = []
        self.save()

    def renewal_from_link(self, *, tier_id: int, license_id: int) -> None:
        """Put the renewal of `license_id` in the cart for a session that opened its signed link."""
        if license_id not in self.renewable:
            self.renewable.append(license_id)
        self.add(tier_id=tier_id, kind=OrderLine.Kind.RENEWAL, license_id=license_id)

    def add(
        self, *, tier_id: int, kind: str = OrderLine.Kind.NEW, license_id: int | None = None
    ) -> None:
        """Add one tier; a renewal or upgrade replaces any other line for the same license."""
        if kind != OrderLine.Kind.NEW:
            self.items = [item for item in self.items if item["license"] != license_id]
        elif any(item["tier"] == tier_id and item["kind"] == kind for item in self.items):
            return
        self.items.append({"tier": tier_id, "kind": kind, "license": license_id})
        self.save()

    def remove(self, *, index: int) -> None:
        if 0 <= index < len(self.items):
            del self.items[index]
            self.save()

    def coupon_set(self, code: str) -> None:
        self.coupon_code = code.strip().upper()[:40]
        self.save()

    def priced(self, *, user: User | AnonymousUser | None) -> PricedCart:
        """Price the cart for `user`; items that no longer make sense are dropped with a reason."""
        return cart_price(
            items=self.items, coupon_code=self.coupon_code, user=user, renewable=self.renewable
        )


def cart_price(
    *,
    items: list[CartItem],
    coupon_code: str,
    user: User | AnonymousUser | None,
    renewable: list[int] | None = None,
) -> PricedCart:
    """Price `items` for `user` with the coupon `coupon_code` (may be empty)."""
    tiers = {
        tier.pk: tier
        for tier in PriceTier.objects.select_related("product").filter(
            pk__in=[item["tier"] for item in items]
        )
    }
    cart = PricedCart(coupon_code=coupon_code)
    for item in items:
        tier = tiers.get(item["tier"])
        if tier is None or not tier_on_sale(tier):
            cart.problems.append("An item in your cart is no longer on sale and was removed.")
            continue
        try:
            cart.lines.append(_priced_item(item, tier, user, renewable or []))
        except CartError as error:
            cart.problems.append(error.message)
    if cart.lines:
        cart.currency = cart.lines[0].tier.currency
    if coupon_code and cart.lines:
        coupon = Coupon.objects.prefetch_related("products").filter(code=coupon_code).first()
        refusal = coupon_refusal(coupon, lines=cart.lines)
        if refusal is None and coupon is not None:
            cart.coupon = coupon
            cart.lines = coupon_apply(coupon, lines=cart.lines)
        else:
            cart.coupon_error = refusal
    return cart


def _priced_item(
    item: CartItem, tier: PriceTier, user: User | AnonymousUser | None, renewable: list[int]
) -> PricedLine:
    if item["kind"] == OrderLine.Kind.NEW:
        return PricedLine(tier=tier, kind=item["kind"], unit_amount=tier.amount)
    license = (
        license_selectors.license_of_customer(license_id=item["license"], customer_id=user.pk)
        if user is not None and user.is_authenticated and item["license"]
        else None
    )
    if license is None and item["kind"] == OrderLine.Kind.RENEWAL and item["license"] in renewable:
        license = license_selectors.licenses_by_ids(license_ids=[item["license"]]).get(
            item["license"]
        )
    if license is None:
        raise CartError("Sign in to renew or upgrade your license.", code="license_not_yours")
    if license.status != license.Status.ACTIVE:
        raise CartError(f"License …{license.key_hint} is {license.status} and cannot be changed.")
    if item["kind"] == OrderLine.Kind.RENEWAL:
        if tier.pk != license.price_id:
            raise CartError(f"License …{license.key_hint} renews at its own tier only.")
        if license.expires_at is None:
            raise CartError(f"License …{license.key_hint} is a lifetime license: nothing to renew.")
        return PricedLine(
            tier=tier,
            kind=item["kind"],
            unit_amount=renewal_amount(tier=tier),
            license_id=license.pk,
        )
    current = PriceTier.objects.filter(pk=license.price_id).first() if license.price_id else None
    if current is None or not is_upgrade(current=current, target=tier):
        raise CartError(f"{tier} is not an upgrade of license …{license.key_hint}.")
    if license.expires_at is not None and license.expires_at <= timezone.now():
        raise CartError(f"License …{license.key_hint} has expired: renew it before upgrading.")
    amount = upgrade_amount(current=current, target=tier, expires_at=license.expires_at)
    return PricedLine(tier=tier, kind=item["kind"], unit_amount=amount, license_id=license.pk)
