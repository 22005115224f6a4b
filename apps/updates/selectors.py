from __future__ import annotations

from apps.licenses.models import Product
from apps.updates.models import Release


def release_latest(*, product: Product, channel: str = Release.Channel.STABLE) -> Release | None:
    """Return the newest published release of `product` on `channel`, or None."""
    return (
        Release.objects.filter(product=product, channel=channel, is_published=True)
        .order_by("-published_at", "-id")
        .first()
    )


def release_by_version(*, product: Product, version: str) -> Release | None:
    """Return the release of `product` with this version, or None."""
    return Release.objects.filter(product=product, version=version).first()
