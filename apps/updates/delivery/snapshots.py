"""What update checks know about products, as JSON-ready values cached in delivery.hotcache.

- A product's update metadata, cached per generation.
- The directory of every active product (slugs, EDD item ids and names), cached as one value,
  so a check that names plugins that are not ours is answered without a query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.text import slugify

from apps.licenses.catalogue import Product
from apps.licenses.selectors import products_for_updates
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
        "activation": product.activation,
        "banners": {"low": product.banner_low, "high": product.banner_high},
        "icons": {"1x": product.icon_1x, "2x": product.icon_2x, "svg": product.icon_svg},
        "releases": [_release(r) for r in releases[:RELEASES_PER_SNAPSHOT]],
    }


@dataclass(frozen=True)
class ProductDirectory:
    """Which products update checks answer for; finds a slug the way the database would."""

    slugs: dict[str, str]
    edd_ids: dict[str, str]
    ids: dict[str, str]
    names: dict[str, str]

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ProductDirectory:
        return cls(
            slugs=value["slugs"], edd_ids=value["edd_ids"], ids=value["ids"], names=value["names"]
        )

    def to_json(self) -> dict[str, Any]:
        return {"slugs": self.slugs, "edd_ids": self.edd_ids, "ids": self.ids, "names": self.names}

    def slug(self, sent: str) -> str | None:
        """Return our product's slug for a slug a client sent (any case), or None."""
        return self.slugs.get(sent.lower())

    def slug_for_edd(self, *, item_id: int | None, item_name: str) -> str | None:
        """Return the slug `product_for_edd` would find for these EDD identifiers, or None."""
        if item_id:
            return self.edd_ids.get(str(item_id)) or self.ids.get(str(item_id))
        if item_name:
            return self.names.get(slugify(item_name))
        return None


def product_directory_load() -> dict[str, Any]:
    """Read the directory of active products (one query), as cached."""
    slugs: dict[str, str] = {}
    edd_ids: dict[str, str] = {}
    ids: dict[str, str] = {}
    names: dict[str, str] = {}
    for pk, slug, edd_item_id, name in products_for_updates():
        # The database compares slugs without regard to case (utf8mb4_unicode_ci).
        slugs.setdefault(slug.lower(), slug)
        if edd_item_id is not None:
            edd_ids.setdefault(str(edd_item_id), slug)
        else:
            ids[str(pk)] = slug
        names.setdefault(slugify(name), slug)
    return ProductDirectory(slugs=slugs, edd_ids=edd_ids, ids=ids, names=names).to_json()
