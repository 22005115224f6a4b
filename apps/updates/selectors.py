from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.licenses.catalogue import Product
from apps.updates.downloads import account_download_url
from apps.updates.models import InstallDay, InstallVersionDay, PublishToken, Release


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
