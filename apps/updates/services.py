"""Writes of the updates app; reading metadata from a release's zip comes with the update API."""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.core.events import publish_durable
from apps.licenses.models import Product
from apps.updates.events import ReleasePublished
from apps.updates.models import Release


@transaction.atomic
def release_publish(
    *,
    product: Product,
    version: str,
    zip_content: bytes,
    channel: str = Release.Channel.STABLE,
    requires_wp: str = "",
    requires_php: str = "",
    tested_up_to: str = "",
    changelog: str = "",
    upgrade_notice: str = "",
) -> Release:
    """Store a release's zip on the storage backend and publish it to `channel`."""
    if Release.objects.filter(product=product, version=version).exists():
        # Checked before the upload so a refused release leaves no orphan zip behind.
        raise ValueError(f"{product.slug} {version} already exists")
    release = Release(
        product=product,
        version=version,
        channel=channel,
        requires_wp=requires_wp,
        requires_php=requires_php,
        tested_up_to=tested_up_to,
        changelog=changelog,
        upgrade_notice=upgrade_notice,
        is_published=True,
        published_at=timezone.now(),
    )
    release.zip_file.save(f"{product.slug}-{version}.zip", ContentFile(zip_content), save=False)
    release.save()
    publish_durable(ReleasePublished(release_id=release.pk))
    return release
