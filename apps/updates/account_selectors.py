"""Reads for the customer account's downloads page: each license with its releases."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from apps.licenses import selectors as license_selectors
from apps.licenses.selectors import license_refusal
from apps.updates.downloads import account_download_url
from apps.updates.models import Release

if TYPE_CHECKING:
    from apps.licenses.models import License

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


def account_downloads(*, customer_id: int, base_url: str) -> list[LicenseDownloads]:
    """Return the customer's licenses with links to their products' stable releases."""
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
