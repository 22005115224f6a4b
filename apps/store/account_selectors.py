"""Reads of the customer account: orders, licenses with their sites, renewal and upgrade offers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import User

from apps.licenses import selectors as license_selectors
from apps.store import selectors
from apps.store.models import Order, PriceTier
from apps.store.pricing import is_upgrade, renewal_amount, upgrade_amount

if TYPE_CHECKING:
    from apps.licenses.models import Activation, License


def license_status(license: License) -> str:
    """Return what the customer sees: active, expired, revoked or disabled."""
    if license.status != license.Status.ACTIVE:
        return str(license.status)
    return "expired" if license.is_expired() else "active"


def _slots(activations: list[Activation]) -> int:
    # Staging copies take no activation slot (see license_activate), so they are not counted.
    return sum(
        1 for activation in activations if activation.is_active and not activation.is_staging
    )


@dataclass(frozen=True)
class LicenseRow:
    """A license as the account lists it."""

    license: License
    tier: PriceTier | None
    status: str
    sites_used: int

    @property
    def sites_limit(self) -> str:
        limit = self.license.activation_limit
        return "unlimited" if not limit else str(limit)


@dataclass(frozen=True)
class AccountOverview:
    orders: list[Order]
    licenses: list[LicenseRow]


def _tiers_by_id(tier_ids: set[int]) -> dict[int, PriceTier]:
    if not tier_ids:
        return {}
    return {tier.pk: tier for tier in PriceTier.objects.filter(pk__in=tier_ids)}


def account_overview(*, customer_id: int) -> AccountOverview:
    """Return the customer's orders with their lines, and licenses with tier and sites used."""
    orders = selectors.orders_of_customer(customer_id=customer_id)
    licenses = license_selectors.licenses_of_customer(customer_id=customer_id)
    tiers = _tiers_by_id({lic.price_id for lic in licenses if lic.price_id is not None})
    return AccountOverview(
        orders=orders,
        licenses=[
            LicenseRow(
                license=lic,
                tier=tiers.get(lic.price_id) if lic.price_id is not None else None,
                status=license_status(lic),
                sites_used=_slots(list(lic.activations.all())),
            )
            for lic in licenses
        ],
    )


@dataclass(frozen=True)
class RenewalOffer:
    """Another year of the license's tier at the renewal price."""

    tier: PriceTier
    amount: int
    percent: int


@dataclass(frozen=True)
class UpgradeOffer:
    """A higher tier of the same product and what moving to it costs today."""

    tier: PriceTier
    amount: int


@dataclass(frozen=True)
class LicensePage:
    """Everything the license page shows; offers are empty when `*_blocked` says why."""

    license: License
    tier: PriceTier | None
    status: str
    sites: list[Activation]
    renewal: RenewalOffer | None = None
    renewal_blocked: str = ""
    upgrades: list[UpgradeOffer] = field(default_factory=list)
    upgrade_blocked: str = ""

    @property
    def sites_used(self) -> int:
        return _slots(self.sites)

    @property
    def sites_limit(self) -> str:
        limit = self.license.activation_limit
        return "unlimited" if not limit else str(limit)

    def upgrade_for(self, tier_id: int) -> UpgradeOffer | None:
        return next((offer for offer in self.upgrades if offer.tier.pk == tier_id), None)


def renewal_discount_percent() -> int:
    """Return the renewal discount as pricing.renewal_amount applies it (0-100)."""
    return max(0, min(100, int(settings.DEPOT_RENEWAL_DISCOUNT_PERCENT)))


def license_page(*, customer_id: int, license_id: int) -> LicensePage | None:
    """Return the customer's license with its active sites and offers, or None if not theirs."""
    license = license_selectors.license_of_customer(license_id=license_id, customer_id=customer_id)
    if license is None:
        return None
    tier = selectors.tier_by_id(tier_id=license.price_id) if license.price_id else None
    status = license_status(license)
    sites = list(
        license.activations.filter(is_active=True).order_by("is_staging", "activated_at", "pk")
    )
    on_sale = tier is not None and tier.is_active and license.product.is_active
    renewal, renewal_blocked = None, ""
    if license.expires_at is None:
        renewal_blocked = "A lifetime license never needs renewing."
    elif license.status != license.Status.ACTIVE:
        renewal_blocked = f"A {status} license cannot be renewed."
    elif tier is None or not on_sale:
        renewal_blocked = "This license's plan is no longer sold. Contact us to renew it."
    else:
        renewal = RenewalOffer(
            tier=tier, amount=renewal_amount(tier=tier), percent=renewal_discount_percent()
        )
    upgrades: list[UpgradeOffer] = []
    upgrade_blocked = ""
    if license.status != license.Status.ACTIVE:
        upgrade_blocked = f"A {status} license cannot be upgraded."
    elif status == "expired":
        upgrade_blocked = "Renew this license before upgrading it."
    elif tier is None or not license.product.is_active:
        upgrade_blocked = "This license's plan is no longer sold. Contact us to upgrade it."
    else:
        upgrades = [
            UpgradeOffer(
                tier=target,
                amount=upgrade_amount(current=tier, target=target, expires_at=license.expires_at),
            )
            for target in selectors.tiers_of_product(product_id=license.product_id)
            if is_upgrade(current=tier, target=target)
        ]
        if not upgrades:
            upgrade_blocked = "This license is already on the highest plan."
    return LicensePage(
        license=license,
        tier=tier,
        status=status,
        sites=sites,
        renewal=renewal,
        renewal_blocked=renewal_blocked,
        upgrades=upgrades,
        upgrade_blocked=upgrade_blocked,
    )


def login_username(*, identifier: str) -> str:
    """Return the username to sign in with: an e-mail finds its account (as checkout does)."""
    identifier = identifier.strip()
    if "@" not in identifier:
        return identifier
    username = (
        User.objects.filter(email__iexact=identifier)
        .order_by("pk")
        .values_list("username", flat=True)
        .first()
    )
    return username or identifier


def users_for_password_reset(*, email: str) -> list[User]:
    """Return the active accounts of `email`, with or without a password set."""
    return [
        user
        for user in User.objects.filter(email__iexact=email, is_active=True)
        if user.email.casefold() == email.casefold()
    ]
