"""A product's update metadata as one JSON-ready value, cached per generation (hotcache)."""

from __future__ import annotations

from typing import Any

from apps.licenses.models import Product
from apps.updates.models import Release
from apps.updates.versions import version_key

# Enough history to fall back past rollouts and WordPress/PHP minimums.
RELEASES_PER_SNAPSHOT = 30


def _release(release: Release) -> dict[str, Any]:
    published = release.published_at or release.created_at
    return {
        "id": release.pk,
        "version": release.version,
        "channel": release.channel,
        "requires_wp": release.requires_wp,
        "requires_php": release.requires_php,
        "tested": release.tested_up_to,
        "description": release.description,
        "installation": release.installation,
        "changelog": release.changelog,
        "upgrade_notice": release.upgrade_notice,
        "rollout": release.rollout_percent,
        "published_at": published.strftime("%Y-%m-%d %H:%M:%S"),
        "size": release.size,
    }


def product_snapshot_load(*, slug: str) -> dict[str, Any] | None:
    """Read a product and its newest published releases (two queries); None if unknown."""
    product = Product.objects.filter(slug=slug, is_active=True).first()
    if product is None:
        return None
    releases = list(
        Release.objects.filter(product=product, is_published=True).order_by("-published_at")[
            : RELEASES_PER_SNAPSHOT * 2
        ]
    )
    releases.sort(key=lambda r: version_key(r.version), reverse=True)
    return {
        "id": product.pk,
        "slug": product.slug,
        "name": product.name,
        "homepage": product.homepage,
        "author": product.author,
        "author_homepage": product.author_homepage,
        "description": product.description,
        "banners": {"low": product.banner_low, "high": product.banner_high},
        "icons": {"1x": product.icon_1x, "2x": product.icon_2x, "svg": product.icon_svg},
        "releases": [_release(r) for r in releases[:RELEASES_PER_SNAPSHOT]],
    }
