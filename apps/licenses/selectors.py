"""Reads of the licensing app."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.text import slugify

from apps.licenses.keys import key_decrypt, key_foreign_refusal, key_hash
from apps.licenses.models import License, Product, RenewalReminder
from apps.licenses.rules import license_refusal
from apps.licenses.state import (
    LicenseCheck,
    LicenseState,
    license_state_check,
    license_state_of,
    license_state_product_refusal,
    license_state_slot_refusal,
    license_states_of,
)

__all__ = [
    "LicenseCheck",
    "LicenseState",
    "ReminderDue",
    "license_by_key",
    "license_check",
    "license_for_order_line",
    "license_key_digest",
    "license_key_foreign_refusal",
    "license_key_hash_of",
    "license_key_reveal",
    "license_refusal",
    "license_state_by_hash",
    "license_state_by_id",
    "license_state_check",
    "license_state_product_refusal",
    "license_state_slot_refusal",
    "license_states_by_hash",
    "licenses_lapsed_by_product",
    "licenses_report",
    "product_by_slug",
    "product_for_edd",
    "products_for_updates",
    "renewal_reminder_of",
    "renewal_reminder_stages",
    "renewal_reminders_due",
]


def license_key_reveal(*, license: License) -> str:
    """Return the plain key of `license`, for its owner."""
    return key_decrypt(license.key_encrypted)


def license_key_digest(key: str) -> str:
    """Return the lookup hash of a key as presented by a client (no database access)."""
    return key_hash(key)


def license_key_foreign_refusal(key: str) -> str | None:
    """Return why a key made by another store cannot be kept as it is, or None if it can."""
    return key_foreign_refusal(key)


def license_by_key(*, key: str) -> License | None:
    """Return the license with this key, or None."""
    return License.objects.select_related("product").filter(key_hash=key_hash(key)).first()


def license_key_hash_of(*, license_id: int) -> str | None:
    """Return the key hash of a license by id (to drop its cached state), or None."""
    return License.objects.filter(pk=license_id).values_list("key_hash", flat=True).first()


def license_state_by_hash(*, key_hash: str) -> LicenseState | None:
    """Load the state of the license with this key hash (two queries), or None."""
    license = (
        License.objects.select_related("product", "customer").filter(key_hash=key_hash).first()
    )
    return license_state_of(license) if license is not None else None


def license_states_by_hash(*, key_hashes: Sequence[str]) -> dict[str, LicenseState]:
    """Load the states of the licenses with these key hashes, by hash; unknown ones are absent.

    One indexed query finds them all (a batch of unknown keys costs nothing more) and one
    more reads the sites of every license found, however many there are.
    """
    licenses = License.objects.select_related("product", "customer").filter(
        key_hash__in=list(key_hashes)
    )
    return {state.key_hash: state for state in license_states_of(licenses)}


def license_state_by_id(*, license_id: int) -> LicenseState | None:
    """Load the state of a license by id, or None."""
    license = License.objects.select_related("product", "customer").filter(pk=license_id).first()
    return license_state_of(license) if license is not None else None


def product_for_edd(*, item_id: int | None, item_name: str) -> Product | None:
    """Find the product an EDD client means: its EDD item id (or our id), else its name."""
    products = Product.objects.filter(is_active=True)
    if item_id:
        return (
            products.filter(edd_item_id=item_id).first()
            or products.filter(pk=item_id, edd_item_id__isnull=True).first()
        )
    if item_name:
        # EDD compares sanitize_title() of both names: lower case, punctuation to dashes.
        wanted = slugify(item_name)
        return next((p for p in products if slugify(p.name) == wanted), None)
    return None


def products_for_updates() -> list[tuple[int, str, int | None, str]]:
    """Return (id, slug, EDD item id, name) of each active product, in `product_for_edd`'s order."""
    return list(
        Product.objects.filter(is_active=True).values_list("pk", "slug", "edd_item_id", "name")
    )


def product_by_slug(*, slug: str) -> Product | None:
    """Return the active product with this slug, or None."""
    return Product.objects.filter(slug=slug, is_active=True).first()


def license_for_order_line(*, order_line_id: int) -> License | None:
    """Return the license issued for an order line, or None."""
    return License.objects.filter(order_line_id=order_line_id).first()


def license_check(
    *, key: str, product: Product | None = None, site_url: str | None = None
) -> LicenseCheck:
    """Check `key` for `product` on `site_url` against the database."""
    state = license_state_by_hash(key_hash=key_hash(key)) if key.strip() else None
    return license_state_check(
        state,
        product_id=product.pk if product is not None else None,
        product_name=product.name if product is not None else "",
        site_url=site_url,
    )


def license_of_customer(*, license_id: int, customer_id: int) -> License | None:
    """Return the license with this id if it belongs to the customer, else None."""
    return (
        License.objects.select_related("product")
        .filter(pk=license_id, customer_id=customer_id)
        .first()
    )


def licenses_of_customer(*, customer_id: int) -> list[License]:
    """Return the customer's licenses, newest first, with product and activations loaded."""
    return list(
        License.objects.select_related("product")
        .prefetch_related("activations")
        .filter(customer_id=customer_id)
        .order_by("-created_at")
    )


def licenses_for_order_lines(*, order_line_ids: list[int]) -> dict[int, License]:
    """Return the licenses issued for these order lines, by order line id."""
    return {
        license.order_line_id: license
        for license in License.objects.select_related("product").filter(
            order_line_id__in=order_line_ids
        )
        if license.order_line_id is not None
    }


def licenses_by_ids(*, license_ids: list[int]) -> dict[int, License]:
    """Return the licenses with these ids, by id."""
    return {
        license.pk: license
        for license in License.objects.select_related("product").filter(pk__in=license_ids)
    }


# --- renewal reminders -----------------------------------------------------------------------

# How long after the last stage's moment a late task still sends it: a week, so a beat that was
# down for days catches up, but a deployment does not remind licenses that lapsed long ago.
LAST_STAGE_GRACE_DAYS = 7


def renewal_reminder_stages() -> list[int]:
    """Return DEPOT_RENEWAL_REMINDER_DAYS, latest moment last (30, 7, 1, -7): days before expiry."""
    return sorted({int(days) for days in settings.DEPOT_RENEWAL_REMINDER_DAYS}, reverse=True)


@dataclass(frozen=True)
class ReminderDue:
    """A license whose reminder stage has come, and the expiry that stage is about."""

    license_id: int
    stage: int
    expires_at: datetime


def renewal_reminders_due(*, now: datetime | None = None) -> list[ReminderDue]:
    """Return the active, expiring licenses whose current stage has not been published yet.

    A license is at stage `s` from `s` days before its expiry until the next stage's moment
    (the last stage for a week), so a task that runs late still sends the stage that is due,
    and a license bought with ten days left gets the 30-day reminder once, not two at once. A
    renewed license has moved its expiry past every window; lifetime licenses have none.
    """
    now = now or timezone.now()
    stages = renewal_reminder_stages()
    due: list[ReminderDue] = []
    for index, stage in enumerate(stages):
        following = stages[index + 1] if index + 1 < len(stages) else stage - LAST_STAGE_GRACE_DAYS
        sent = RenewalReminder.objects.filter(
            license=OuterRef("pk"), stage=stage, expires_at=OuterRef("expires_at")
        )
        rows = (
            License.objects.filter(
                status=License.Status.ACTIVE,
                expires_at__isnull=False,
                expires_at__gt=now + timedelta(days=following),
                expires_at__lte=now + timedelta(days=stage),
            )
            .exclude(Exists(sent))
            .order_by("pk")
            .values_list("pk", "expires_at")
        )
        due.extend(
            ReminderDue(license_id=pk, stage=stage, expires_at=expires_at)
            for pk, expires_at in rows
            if expires_at is not None  # filtered above; the column is nullable
        )
    return due


def renewal_reminder_of(*, license_id: int, stage: int) -> License | None:
    """Return the license if its `stage` reminder is still owed: active, expiry unchanged since.

    None for a license revoked, disabled or refunded after the stage was published, or
    renewed (its expiry is no longer the one the stage was about).
    """
    reminder = (
        RenewalReminder.objects.filter(license_id=license_id, stage=stage)
        .order_by("-expires_at")
        .first()
    )
    if reminder is None:
        return None
    return (
        License.objects.select_related("product", "customer")
        .filter(
            pk=license_id,
            status=License.Status.ACTIVE,
            expires_at=reminder.expires_at,
        )
        .first()
    )


# --- reports (apps/reports): counts per product, one query each ------------------------------


@dataclass(frozen=True)
class ProductLicenses:
    """One product's active licenses now, and when the dated ones among them expire."""

    product_id: int
    slug: str
    name: str
    active: int
    lifetime: int
    # Active dated licenses expiring within 30, 31-60 and 61-90 days from now.
    expiring_30: int
    expiring_60: int
    expiring_90: int


def licenses_report(*, now: datetime) -> list[ProductLicenses]:
    """Return every product's active licenses and its renewal pipeline at `now`, by name.

    Active means usable for updates: status active and not expired (lifetime included).
    """
    active = Q(licenses__status=License.Status.ACTIVE)
    dated = active & Q(licenses__expires_at__gt=now)

    def expiring(start: int, end: int) -> Count:
        return Count(
            "licenses",
            filter=dated
            & Q(licenses__expires_at__gt=now + timedelta(days=start))
            & Q(licenses__expires_at__lte=now + timedelta(days=end)),
        )

    rows = (
        Product.objects.annotate(
            active_count=Count(
                "licenses", filter=active & (Q(licenses__expires_at__isnull=True) | dated)
            ),
            lifetime_count=Count("licenses", filter=active & Q(licenses__expires_at__isnull=True)),
            expiring_30=expiring(0, 30),
            expiring_60=expiring(30, 60),
            expiring_90=expiring(60, 90),
        )
        .order_by("name", "pk")
        .values_list(
            "pk",
            "slug",
            "name",
            "active_count",
            "lifetime_count",
            "expiring_30",
            "expiring_60",
            "expiring_90",
        )
    )
    return [ProductLicenses(*row) for row in rows]


def licenses_lapsed_by_product(*, since: datetime, until: datetime) -> dict[int, int]:
    """Return per product id the active licenses whose expiry fell in [since, until), unrenewed.

    A renewed license's expiry has moved past `until`, so what is left here lapsed; revoked and
    disabled licenses were taken away, not left to lapse, and are not counted.
    """
    rows = (
        License.objects.filter(
            status=License.Status.ACTIVE, expires_at__gte=since, expires_at__lt=until
        )
        .values("product_id")
        .annotate(lapsed=Count("id"))
        .order_by()
    )
    return {row["product_id"]: row["lapsed"] for row in rows}
