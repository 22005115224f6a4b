from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.urls import reverse

from apps.licenses import selectors as license_selectors
from apps.licenses.catalogue import Product
from apps.licenses.sites import sites_limit_label
from apps.store.models import Order, OrderLine, PriceTier
from apps.store.pricing import (
    is_upgrade,
    renewal_amount,
    renewal_discount_percent,
    tier_on_sale,
    upgrade_amount,
)

if TYPE_CHECKING:
    from apps.licenses.models import Activation, License


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


# The customer account: its overview, one license's page with renewal and upgrade offers, and
# who may sign in or ask for a password link.


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
        return sites_limit_label(self.license.activation_limit)


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
    orders = orders_of_customer(customer_id=customer_id)
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
        return sites_limit_label(self.license.activation_limit)

    def upgrade_for(self, tier_id: int) -> UpgradeOffer | None:
        return next((offer for offer in self.upgrades if offer.tier.pk == tier_id), None)


def _renewal_offer(license: License, tier: PriceTier | None) -> tuple[RenewalOffer | None, str]:
    """Return the license's renewal offer, or None and why it cannot be renewed."""
    if license.expires_at is None:
        return None, "A lifetime license never needs renewing."
    if license.status != license.Status.ACTIVE:
        return None, f"A {license_status(license)} license cannot be renewed."
    if tier is None or not tier_on_sale(tier):
        return None, "This license's plan is no longer sold. Contact us to renew it."
    offer = RenewalOffer(
        tier=tier, amount=renewal_amount(tier=tier), percent=renewal_discount_percent()
    )
    return offer, ""


def renewal_offer_of(*, license: License) -> RenewalOffer | None:
    """Return another year of `license` at the renewal price, or None if it cannot be renewed."""
    tier = tier_by_id(tier_id=license.price_id) if license.price_id else None
    return _renewal_offer(license, tier)[0]


# The one-click renewal link of a reminder: a signed token bound to the license, expiring.
RENEWAL_LINK_SALT = "depot.store.renewal-link"


class RenewalLinkInvalid(Exception):
    """A renewal link that was tampered with or has expired."""


def renewal_link_path(*, license_id: int) -> str:
    """Return the path of a link that puts the license's renewal in the cart and opens checkout."""
    token = signing.dumps({"license": license_id}, salt=RENEWAL_LINK_SALT, compress=True)
    return reverse("store:renew", args=[token])


def renewal_link_license_id(*, token: str) -> int:
    """Return the license id a renewal link was made for; RenewalLinkInvalid if it is not one."""
    max_age = timedelta(days=int(settings.DEPOT_RENEWAL_LINK_DAYS))
    try:
        data = signing.loads(token, salt=RENEWAL_LINK_SALT, max_age=max_age)
        return int(data["license"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise RenewalLinkInvalid from None


def license_page(*, customer_id: int, license_id: int) -> LicensePage | None:
    """Return the customer's license with its active sites and offers, or None if not theirs."""
    license = license_selectors.license_of_customer(license_id=license_id, customer_id=customer_id)
    if license is None:
        return None
    tier = tier_by_id(tier_id=license.price_id) if license.price_id else None
    status = license_status(license)
    sites = list(
        license.activations.filter(is_active=True).order_by("is_staging", "activated_at", "pk")
    )
    renewal, renewal_blocked = _renewal_offer(license, tier)
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
            for target in tiers_of_product(product_id=license.product_id)
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


# --- reports (apps/reports): aggregates over a date range, one query each --------------------
# Days are UTC dates; a range is [start 00:00, end + 1 day 00:00). Amounts stay in minor units
# and per currency: the store never converts between currencies, so neither do its reports.


@dataclass(frozen=True)
class RevenueDay:
    """The orders paid (or refunded) on one UTC day in one currency."""

    day: date
    currency: str
    orders: int
    amount: int


@dataclass(frozen=True)
class RevenueGroup:
    """Order lines paid in a range, grouped by a product or a kind of sale, in one currency."""

    key: str
    label: str
    currency: str
    lines: int
    amount: int


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    since = datetime.combine(start, time.min, tzinfo=UTC)
    return since, datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)


def _paid_orders(start: date, end: date) -> QuerySet[Order]:
    # A refunded order was paid all the same: its money counts on the day it came in, and the
    # refund on the day it went back (revenue_refunds_by_day). Pending orders refunded before
    # they were paid (a cancellation) never had a paid_at.
    since, until = _day_bounds(start, end)
    return Order.objects.filter(
        paid_at__gte=since,
        paid_at__lt=until,
        status__in=(Order.Status.PAID, Order.Status.REFUNDED),
    )


def revenue_by_day(*, start: date, end: date) -> list[RevenueDay]:
    """Return the orders paid per UTC day and currency between `start` and `end`, oldest first."""
    rows = (
        _paid_orders(start, end)
        .annotate(day=TruncDate("paid_at", tzinfo=UTC))
        .values("day", "currency")
        .annotate(orders=Count("id"), amount=Sum("total"))
        .order_by("day", "currency")
    )
    return [
        RevenueDay(row["day"], row["currency"], row["orders"], row["amount"] or 0) for row in rows
    ]


def revenue_refunds_by_day(*, start: date, end: date) -> list[RevenueDay]:
    """Return the paid orders refunded per UTC day and currency between `start` and `end`."""
    since, until = _day_bounds(start, end)
    rows = (
        Order.objects.filter(
            status=Order.Status.REFUNDED,
            paid_at__isnull=False,
            refunded_at__gte=since,
            refunded_at__lt=until,
        )
        .annotate(day=TruncDate("refunded_at", tzinfo=UTC))
        .values("day", "currency")
        .annotate(orders=Count("id"), amount=Sum("total"))
        .order_by("day", "currency")
    )
    return [
        RevenueDay(row["day"], row["currency"], row["orders"], row["amount"] or 0) for row in rows
    ]


def revenue_by_product(*, start: date, end: date) -> list[RevenueGroup]:
    """Return the lines paid between `start` and `end` per product and currency, largest first."""
    rows = (
        OrderLine.objects.filter(order__in=_paid_orders(start, end))
        .values("product__slug", "product__name", "order__currency")
        .annotate(lines=Count("id"), amount=Sum("total"))
        .order_by("-amount", "product__name", "order__currency")
    )
    return [
        RevenueGroup(
            row["product__slug"],
            row["product__name"],
            row["order__currency"],
            row["lines"],
            row["amount"] or 0,
        )
        for row in rows
    ]


def revenue_by_kind(*, start: date, end: date) -> list[RevenueGroup]:
    """Return the lines paid between `start` and `end` per kind (new, renewal, upgrade)."""
    labels = dict(OrderLine.Kind.choices)
    rows = (
        OrderLine.objects.filter(order__in=_paid_orders(start, end))
        .values("kind", "order__currency")
        .annotate(lines=Count("id"), amount=Sum("total"))
        .order_by("kind", "order__currency")
    )
    found = {(row["kind"], row["order__currency"]): row for row in rows}
    currencies = sorted({currency for _, currency in found}) or [str(settings.DEPOT_CURRENCY)]
    # Every kind appears, with zeros, so the chart's bars stay in the same place.
    return [
        RevenueGroup(
            kind,
            str(labels[kind]),
            currency,
            found.get((kind, currency), {}).get("lines", 0),
            found.get((kind, currency), {}).get("amount", 0) or 0,
        )
        for kind in OrderLine.Kind.values
        for currency in currencies
    ]


def renewals_by_product(*, since: datetime, until: datetime) -> dict[int, int]:
    """Return per product id the licenses renewed whose expiry fell in [since, until).

    A renewal line keeps the expiry it moved (previous_expires_at); a refunded renewal puts the
    expiry back, so only paid orders count.
    """
    rows = (
        OrderLine.objects.filter(
            kind=OrderLine.Kind.RENEWAL,
            order__status=Order.Status.PAID,
            previous_expires_at__gte=since,
            previous_expires_at__lt=until,
            license_id__isnull=False,
        )
        .values("product_id")
        .annotate(renewed=Count("license_id", distinct=True))
        .order_by()
    )
    return {row["product_id"]: row["renewed"] for row in rows}
