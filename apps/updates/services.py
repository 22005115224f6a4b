"""Writes of the updates app: publishing and changing releases."""

from __future__ import annotations

import hashlib
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, DomainError
from apps.core.events import publish_durable
from apps.licenses import services as license_services
from apps.licenses.catalogue import Product
from apps.licenses.services import product_upsert
from apps.updates.delivery import hotcache
from apps.updates.events import ReleasePublished
from apps.updates.models import PublishToken, Release
from apps.updates.package_storage import package_discard, package_store
from apps.updates.publishing.zip_read import PluginPackage, plugin_zip_read
from apps.updates.selectors import publish_token_hash, release_latest


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

    Raises Conflict (code ``release_exists``) when the product already has this version, and
    StorageUnavailable (503) when storage cannot take or does not hold the zip intact.
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
    _release_save_with_package(release, zip_content)
    return release


def _release_save_with_package(release: Release, zip_content: bytes) -> None:
    """Store the zip, then save and announce the release; a failure leaves neither behind."""
    product = release.product
    # Published only once storage holds the package intact; a failure leaves no row behind.
    package_store(
        file=release.zip_file,
        filename=f"{product.slug}-{release.version}.zip",
        content=zip_content,
        label=f"{product.slug} {release.version}",
    )
    try:
        release.save()
        hotcache.metadata_bump_on_commit(product.slug)
        _storefront_note(product)
        publish_durable(ReleasePublished(release_id=release.pk))
    except BaseException:
        # Rolled back (a concurrent upload of this version winning included): no row will
        # point at it. Storage never overwrites (file_overwrite off, unique names on disk),
        # so the stored key is this upload's own copy.
        package_discard(release.zip_file.name)
        raise


def _storefront_note(product: Product) -> None:
    """Tell the product which stable release the storefront shows."""
    latest = release_latest(product=product, channel=Release.Channel.STABLE)
    license_services.product_release_note(
        product_id=product.pk,
        version=latest.version if latest else "",
        changelog=latest.changelog if latest else "",
        requires_wp=latest.requires_wp if latest else "",
        tested_up_to=latest.tested_up_to if latest else "",
        released_at=latest.published_at if latest else None,
    )


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
    _storefront_note(release.product)
    return release


# Prefixed so secret scanners (GitHub, GitLab) can recognise a leaked token.
PUBLISH_TOKEN_PREFIX = "dpt_"  # noqa: S105 (a public prefix, not a secret)


class ProductNotAllowed(DomainError):
    """A publish token used for a product it was not given."""

    code = "product_not_allowed"
    status = 403


@transaction.atomic
def release_publish_zip(
    *,
    zip_content: bytes,
    product: Product | None = None,
    channel: str = Release.Channel.STABLE,
    rollout_percent: int = 100,
    create_product: bool = False,
) -> Release:
    """Publish a plugin zip with the version, requirements and readme sections it declares.

    Without `product`, the zip's folder names it; `create_product` creates a missing one
    from the plugin header. Raises ZipRejected, Conflict (``release_exists``) or DomainError
    (``unknown_product``) before anything is stored.
    """
    _release_options_check(channel=channel, rollout_percent=rollout_percent)
    package = plugin_zip_read(zip_content, expected_slug=product.slug if product else None)
    if product is None:
        product = _product_for_package(package, create=create_product)
    return _release_publish_package(
        package, zip_content=zip_content, product=product, channel=channel, rollout=rollout_percent
    )


@transaction.atomic
def release_publish_by_token(
    *,
    token: PublishToken,
    zip_content: bytes,
    product_slug: str | None = None,
    channel: str = Release.Channel.STABLE,
    rollout_percent: int = 100,
) -> Release:
    """Publish a zip from a build pipeline, to a product `token` may publish to.

    Raises ProductNotAllowed (403) for another product, else as release_publish_zip.
    """
    _release_options_check(channel=channel, rollout_percent=rollout_percent)
    if not token.all_products and not token.products.exists():
        # Its products were deleted: refused before the zip is read, like any other product.
        raise _token_without_products(token)
    product = None
    if product_slug:
        # Checked before the zip is read, so a token learns nothing from a zip it may not send.
        product = Product.objects.filter(slug=product_slug).first()
        if product is None:
            raise _unknown_product(product_slug)
        _token_allows_check(token, product)
    package = plugin_zip_read(zip_content, expected_slug=product_slug or None)
    if product is None:
        product = _product_for_package(package, create=False)
        _token_allows_check(token, product)
    return _release_publish_package(
        package, zip_content=zip_content, product=product, channel=channel, rollout=rollout_percent
    )


def _release_options_check(*, channel: str, rollout_percent: int) -> None:
    if channel not in Release.Channel.values:
        raise DomainError(
            f"Unknown channel '{channel}'; use one of: {', '.join(Release.Channel.values)}.",
            code="invalid_channel",
        )
    if not 1 <= rollout_percent <= 100:
        raise DomainError(
            f"A rollout of {rollout_percent}% is not possible; use a percentage from 1 to 100.",
            code="invalid_rollout",
        )


def _unknown_product(slug: str) -> DomainError:
    return DomainError(
        f"No product has the slug '{slug}'. Create the product first, or choose the product "
        "this zip belongs to.",
        code="unknown_product",
    )


def _product_for_package(package: PluginPackage, *, create: bool) -> Product:
    # Any product, active or not: a plugin withdrawn from sale still ships updates.
    product = Product.objects.filter(slug=package.slug).first()
    if product is not None:
        return product
    if not create:
        raise _unknown_product(package.slug)
    return product_upsert(
        slug=package.slug,
        name=package.name[:200],
        description=package.summary,
        author=package.author[:200],
        author_homepage=_web_url(package.author_uri),
        homepage=_web_url(package.plugin_uri),
    )


def _web_url(value: str) -> str:
    # Headers are free text; only an http(s) URL that fits Product's URLField is kept.
    return value if value.startswith(("https://", "http://")) and len(value) <= 200 else ""


def _token_without_products(token: PublishToken) -> ProductNotAllowed:
    return ProductNotAllowed(
        f"The token '{token.name}' may not publish any product: the products it was given no "
        "longer exist. Ask an admin to choose its products, or for a new token.",
    )


def _token_allows_check(token: PublishToken, product: Product) -> None:
    # An explicit flag, never "no products": a token whose products were deleted publishes
    # nothing rather than everything.
    if token.all_products:
        return
    allowed = list(token.products.order_by("slug").values_list("slug", flat=True))
    if not allowed:
        raise _token_without_products(token)
    if product.slug not in allowed:
        raise ProductNotAllowed(
            f"The token '{token.name}' may not publish {product.slug}; it may publish "
            f"{', '.join(allowed)}. Ask an admin for a token that covers {product.slug}.",
        )


def _release_publish_package(
    package: PluginPackage, *, zip_content: bytes, product: Product, channel: str, rollout: int
) -> Release:
    try:
        with transaction.atomic():
            return release_publish(
                product=product,
                version=package.version,
                zip_content=zip_content,
                channel=channel,
                requires_wp=package.requires_wp,
                requires_php=package.requires_php,
                tested_up_to=package.tested_up_to,
                description=package.description,
                installation=package.installation,
                changelog=package.changelog,
                upgrade_notice=package.upgrade_notice,
                rollout_percent=rollout,
            )
    except IntegrityError as exc:
        # A concurrent upload of the same version won the unique (product, version).
        raise Conflict(
            f"{product.slug} {package.version} already exists.", code="release_exists"
        ) from exc


@transaction.atomic
def publish_token_create(
    *, name: str, products: list[Product] | None = None, all_products: bool = False
) -> tuple[PublishToken, str]:
    """Create a publish token; return it and the secret, which is shown once and not stored.

    The scope is said out loud: `all_products=True`, or at least one of `products`.
    """
    name = name.strip()
    if not name or len(name) > 100:
        raise DomainError(
            "Name the token after who uses it, e.g. 'GitHub Actions' (1 to 100 characters).",
            code="invalid_name",
        )
    if all_products == bool(products):
        raise DomainError(
            "Give the token either all products or at least one product, not both.",
            code="invalid_scope",
        )
    secret = PUBLISH_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = PublishToken.objects.create(
        name=name,
        token_hash=publish_token_hash(token=secret),
        token_hint=secret[-4:],
        all_products=all_products,
    )
    if products:
        token.products.set(products)
    return token, secret


def publish_token_touch(*, token: PublishToken) -> None:
    """Record that `token` was used just now."""
    token.last_used_at = timezone.now()
    PublishToken.objects.filter(pk=token.pk).update(last_used_at=token.last_used_at)
