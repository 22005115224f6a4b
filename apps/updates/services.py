"""Writes of the updates app: publishing and changing releases."""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from apps.core.errors import Conflict
from apps.core.events import publish_durable
from apps.licenses.models import Product
from apps.updates import hotcache
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
    description: str = "",
    installation: str = "",
    changelog: str = "",
    upgrade_notice: str = "",
    rollout_percent: int = 100,
) -> Release:
    """Store a release's zip on the storage backend and publish it to `channel`.

    Raises Conflict (code ``release_exists``) when the product already has this version.
    """
    if not 1 <= rollout_percent <= 100:
        raise ValueError("rollout_percent must be between 1 and 100")
    if Release.objects.filter(product=product, version=version).exists():
        # Checked before the upload so a refused release leaves no orphan zip behind.
        raise Conflict(f"{product.slug} {version} already exists.", code="release_exists")
    release = Release(
        product=product,
        version=version,
        channel=channel,
        sha384=hashlib.sha384(zip_content).hexdigest(),
        size=len(zip_content),
        requires_wp=requires_wp,
        requires_php=requires_php,
        tested_up_to=tested_up_to,
        description=description,
        installation=installation,
        changelog=changelog,
        upgrade_notice=upgrade_notice,
        rollout_percent=rollout_percent,
        is_published=True,
        published_at=timezone.now(),
    )
    release.zip_file.save(f"{product.slug}-{version}.zip", ContentFile(zip_content), save=False)
    release.save()
    hotcache.metadata_bump_on_commit(product.slug)
    publish_durable(ReleasePublished(release_id=release.pk))
    return release


@transaction.atomic
def release_update(
    *,
    release: Release,
    is_published: bool | None = None,
    rollout_percent: int | None = None,
    channel: str | None = None,
) -> Release:
    """Change a release's visibility, rollout or channel; the next check sees the change."""
    if rollout_percent is not None:
        if not 1 <= rollout_percent <= 100:
            raise ValueError("rollout_percent must be between 1 and 100")
        release.rollout_percent = rollout_percent
    if channel is not None:
        release.channel = channel
    if is_published is not None:
        release.is_published = is_published
        if is_published and release.published_at is None:
            release.published_at = timezone.now()
    release.save()
    hotcache.metadata_bump_on_commit(release.product.slug)
    return release
