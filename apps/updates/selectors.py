from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from apps.licenses import selectors as license_selectors
from apps.licenses.catalogue import Product
from apps.licenses.selectors import license_refusal
from apps.updates.delivery.package_tokens import account_download_url, updates_base_url
from apps.updates.models import InstallDay, InstallVersionDay, PublishToken, Release

if TYPE_CHECKING:
    from apps.licenses.models import License


def release_latest(*, product: Product, channel: str = Release.Channel.STABLE) -> Release | None:
    """Return the newest published release of `product` on `channel`, or None."""
    return (
        Release.objects.filter(product=product, channel=channel, is_published=True)
        .order_by("-published_at", "-id")
        .first()
    )


def account_download_link(
    *, base_url: str, license_id: int, product: Product, release: Release
) -> str:
    """Return a license-checked download URL for the customer account or a receipt."""
    return account_download_url(
        base_url=base_url,
        license_id=license_id,
        release_id=release.pk,
        slug=product.slug,
        version=release.version,
    )


def release_by_id(*, release_id: int) -> Release | None:
    """Return the release with this id and its product, or None."""
    return Release.objects.select_related("product").filter(pk=release_id).first()


def release_by_version(*, product: Product, version: str) -> Release | None:
    """Return the release of `product` with this version, or None."""
    return Release.objects.filter(product=product, version=version).first()


def _report_database() -> str:
    # Reports read from the replica when one is configured (DATABASE_REPLICA_URL).
    return "replica" if "replica" in settings.DATABASES else "default"


def install_summary(*, product: Product, days: int = 30) -> list[dict[str, Any]]:
    """Return `product`'s active installs per rolled-up day of the last `days` days, oldest first.

    Each item is ``{"day": date, "sites": int, "checks": int}``; today's figures are provisional.
    """
    since = timezone.now().date() - timedelta(days=max(days, 1) - 1)
    rows = (
        InstallDay.objects.using(_report_database())
        .filter(product=product, day__gte=since)
        .order_by("day")
        .values_list("day", "sites", "checks")
    )
    return [{"day": day, "sites": sites, "checks": checks} for day, sites, checks in rows]


def version_adoption(*, product: Product, day: date) -> dict[str, list[tuple[str, int]]]:
    """Return distinct sites per value of each dimension (plugin, wp, php, locale) on `day`."""
    adoption: dict[str, list[tuple[str, int]]] = {
        dimension: [] for dimension in InstallVersionDay.Dimension.values
    }
    rows = (
        InstallVersionDay.objects.using(_report_database())
        .filter(product=product, day=day)
        .order_by("dimension", "-sites", "value")
        .values_list("dimension", "value", "sites")
    )
    for dimension, value, sites in rows:
        adoption.setdefault(dimension, []).append((value, sites))
    return adoption


def publish_token_hash(*, token: str) -> str:
    """Return the stored form of a publish token: its SHA-256, hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def publish_token_by_secret(*, token: str) -> PublishToken | None:
    """Return the active publish token with this secret, or None.

    Only hashes are compared, and by an indexed lookup, so no timing reveals a prefix.
    """
    if not token:
        return None
    return PublishToken.objects.filter(
        token_hash=publish_token_hash(token=token), is_active=True
    ).first()


# The customer account's downloads page: each license with its releases.

# Older releases listed per license for rollback. Every published release stays downloadable;
# the page only stops listing them here so that it stays short.
OLDER_RELEASES_SHOWN = 10


@dataclass(frozen=True)
class ReleaseLink:
    """A release and the license-checked link that downloads it."""

    release: Release
    url: str


@dataclass(frozen=True)
class LicenseDownloads:
    """A license with the stable releases it may download, or why it may not."""

    license: License
    refusal: str = ""
    latest: ReleaseLink | None = None
    older: list[ReleaseLink] = field(default_factory=list)

    @property
    def is_expired(self) -> bool:
        return self.license.status == self.license.Status.ACTIVE and self.license.is_expired()


def account_downloads(*, customer_id: int, request_base_url: str) -> list[LicenseDownloads]:
    """Return the customer's licenses with links to their products' stable releases.

    Links point at DEPOT_UPDATES_BASE_URL when it is set, else at `request_base_url`.
    """
    base_url = updates_base_url(request_base_url)
    licenses = license_selectors.licenses_of_customer(customer_id=customer_id)
    by_product: dict[int, list[Release]] = defaultdict(list)
    releases = (
        Release.objects.filter(
            product_id__in={license.product_id for license in licenses},
            channel=Release.Channel.STABLE,
            is_published=True,
        )
        .exclude(zip_file="")
        .select_related("product")
        .order_by("-published_at", "-id")
    )
    for release in releases:
        by_product[release.product_id].append(release)
    rows = []
    for license in licenses:
        refusal = license_refusal(license)
        if refusal is not None:
            rows.append(LicenseDownloads(license=license, refusal=refusal.message))
            continue
        links = [
            ReleaseLink(
                release=release,
                url=account_download_url(
                    base_url=base_url,
                    license_id=license.pk,
                    release_id=release.pk,
                    slug=release.product.slug,
                    version=release.version,
                ),
            )
            for release in by_product.get(license.product_id, [])[: 1 + OLDER_RELEASES_SHOWN]
        ]
        rows.append(
            LicenseDownloads(license=license, latest=links[0] if links else None, older=links[1:])
        )
    return rows


# --- reports (apps/reports): every product at once, so a report page costs a fixed number of
# queries however many products there are.


@dataclass(frozen=True)
class InstallsDay:
    """One product's active installs (distinct sites that checked) and checks on one day."""

    day: date
    slug: str
    name: str
    sites: int
    checks: int


def installs_by_day(*, start: date, end: date) -> list[InstallsDay]:
    """Return every product's rolled-up install days between `start` and `end`, oldest first."""
    rows = (
        InstallDay.objects.using(_report_database())
        .filter(day__gte=start, day__lte=end)
        .order_by("day", "product__name", "product_id")
        .values_list("day", "product__slug", "product__name", "sites", "checks")
    )
    return [InstallsDay(*row) for row in rows]


@dataclass(frozen=True)
class Adoption:
    """Distinct sites per plugin, WordPress and PHP version of one product on one day."""

    day: date | None
    by_dimension: dict[str, list[tuple[str, int]]]


def adoption_latest(*, product_id: int, end: date) -> Adoption:
    """Return the product's version adoption on its last rolled-up day up to `end`."""
    database = _report_database()
    day = (
        InstallVersionDay.objects.using(database)
        .filter(product_id=product_id, day__lte=end)
        .order_by("-day")
        .values_list("day", flat=True)
        .first()
    )
    by_dimension: dict[str, list[tuple[str, int]]] = {
        dimension: [] for dimension in InstallVersionDay.Dimension.values
    }
    if day is None:
        return Adoption(day=None, by_dimension=by_dimension)
    rows = (
        InstallVersionDay.objects.using(database)
        .filter(product_id=product_id, day=day)
        .order_by("dimension", "-sites", "value")
        .values_list("dimension", "value", "sites")
    )
    for dimension, value, sites in rows:
        by_dimension.setdefault(dimension, []).append((value, sites))
    return Adoption(day=day, by_dimension=by_dimension)
