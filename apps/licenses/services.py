"""Writes of the licensing app: issue, activate, deactivate, renew, change tier, revoke.

Every write, the admin's included, goes through here: each publishes LicenseChanged after
commit, on which the update API drops the license's cached state.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, DomainError, NotFound
from apps.core.events import publish, publish_durable
from apps.licenses.catalogue import product_unknown
from apps.licenses.events import (
    ActivationCreated,
    ActivationRemoved,
    LicenseChanged,
    LicenseExpiring,
    LicenseIssued,
    LicenseRenewed,
    LicenseRevoked,
    ProductChanged,
)
from apps.licenses.keys import key_encrypt, key_foreign_refusal, key_generate, key_hash
from apps.licenses.models import Activation, ActivationPolicy, License, Product, RenewalReminder
from apps.licenses.rules import LicenseRefused as LicenseRefused  # re-exported for callers
from apps.licenses.rules import license_refusal, no_slot_left, site_deactivated
from apps.licenses.selectors import renewal_reminders_due
from apps.licenses.sites import site_is_staging, site_normalise


def _key_fields(key: str) -> dict[str, str]:
    """What a license keeps of its key: an HMAC to find it, an encrypted copy, the last four."""
    return {"key_hash": key_hash(key), "key_encrypted": key_encrypt(key), "key_hint": key[-4:]}


@transaction.atomic
def license_create(
    *,
    product: Product,
    email: str,
    activation_limit: int,
    expires_at: datetime | None,
    customer: User | None = None,
    price_id: int | None = None,
    order_line_id: int | None = None,
) -> tuple[License, str]:
    """Create a license with a fresh key; return it and the key (shown once, stored encrypted)."""
    key = key_generate()
    license = License.objects.create(
        **_key_fields(key),
        product=product,
        customer=customer,
        email=email,
        activation_limit=activation_limit,
        expires_at=expires_at,
        price_id=price_id,
        order_line_id=order_line_id,
    )
    publish_durable(LicenseIssued(license_id=license.pk))
    # Drops a negative cache entry should anyone have tried this key before it existed.
    publish(LicenseChanged(license_id=license.pk))
    return license, key


def license_issue(
    *,
    order_line_id: int,
    product: Product,
    email: str,
    activation_limit: int,
    term_days: int | None,
    customer: User | None = None,
    price_id: int | None = None,
) -> License:
    """Issue the license of an order line, once: a repeated call returns the same license."""
    existing = License.objects.filter(order_line_id=order_line_id).first()
    if existing is not None:
        return existing
    expires_at = timezone.now() + timedelta(days=term_days) if term_days else None
    try:
        license, _ = license_create(
            product=product,
            email=email,
            activation_limit=activation_limit,
            expires_at=expires_at,
            customer=customer,
            price_id=price_id,
            order_line_id=order_line_id,
        )
    except IntegrityError:
        # A concurrent delivery of the same task won the unique order_line_id.
        return License.objects.get(order_line_id=order_line_id)
    return license


def _locked(license_id: int) -> License:
    license = License.objects.select_for_update().filter(pk=license_id).first()
    if license is None:
        raise NotFound("This license does not exist.", code="missing")
    return license


@transaction.atomic
def license_activate(
    *, license_id: int, site_url: str, environment: str | None = None, on_check: bool = False
) -> Activation:
    """Activate `license` on a site; the same site again is a no-op, staging copies are free.

    The license row is locked (SELECT … FOR UPDATE) so concurrent activations of different
    sites cannot both take the last free slot. `on_check` (an update check activating a site
    by itself) never reactivates a site that was deactivated.
    """
    site = site_normalise(site_url)
    license = _locked(license_id)
    refusal = license_refusal(license)
    if refusal is not None:
        raise refusal
    activation = Activation.objects.filter(license=license, site=site).first()
    if activation is not None and activation.is_active:
        return activation
    if activation is not None and on_check:
        raise site_deactivated()
    looks_staging = _looks_staging(site, environment)
    staging = looks_staging and _free_staging_left(license)
    if not staging and license.activation_limit:
        used = license.activations.filter(is_active=True, is_staging=False).count()
        if used >= license.activation_limit:
            raise no_slot_left(
                used=used, limit=license.activation_limit, staging_past_cap=looks_staging
            )
    now = timezone.now()
    if activation is None:
        activation = Activation.objects.create(
            license=license,
            site=site,
            site_url=site_url.strip()[:500],
            environment=(environment or "production")[:20],
            is_staging=staging,
            last_checked_at=now,
        )
    else:
        activation.is_active = True
        activation.is_staging = staging
        activation.environment = (environment or "production")[:20]
        activation.activated_at = now
        activation.deactivated_at = None
        activation.save()
    publish(LicenseChanged(license_id=license.pk))
    publish_durable(ActivationCreated(license_id=license.pk, site=site))
    return activation


def _looks_staging(site: str, environment: str | None) -> bool:
    # The client's word counts only when the vendor trusts it (EDD's "bypass local hosts"):
    # otherwise `environment=staging` would make any production site free.
    hint = environment if settings.DEPOT_TRUST_CLIENT_ENVIRONMENT else None
    return site_is_staging(site, environment=hint)


def _free_staging_left(license: License) -> bool:
    # Free copies are capped per license; past the cap a staging copy takes a slot like any
    # other site (or is refused when none is left). Runs under the license's row lock.
    free = license.activations.filter(is_active=True, is_staging=True).count()
    return free < settings.DEPOT_FREE_STAGING_SITES


@transaction.atomic
def license_deactivate(*, license_id: int, site_url: str) -> bool:
    """Deactivate `license` on a site (the row is kept); return whether it was active."""
    site = site_normalise(site_url)
    license = _locked(license_id)
    changed = Activation.objects.filter(license=license, site=site, is_active=True).update(
        is_active=False, deactivated_at=timezone.now()
    )
    if changed:
        publish(LicenseChanged(license_id=license.pk))
        publish_durable(ActivationRemoved(license_id=license.pk, site=site))
    return bool(changed)


@transaction.atomic
def license_activations_reset(*, license_id: int) -> int:
    """Deactivate every site of `license`; return how many were active."""
    license = _locked(license_id)
    active = Activation.objects.filter(license=license, is_active=True)
    sites = list(active.values_list("site", flat=True))
    changed = active.update(is_active=False, deactivated_at=timezone.now())
    if changed:
        publish(LicenseChanged(license_id=license.pk))
        for site in sites:
            publish_durable(ActivationRemoved(license_id=license.pk, site=site))
    return changed


@transaction.atomic
def license_renew(*, license_id: int, days: int = 365) -> License:
    """Extend `license` by `days` from the later of now and its expiry (lifetime stays lifetime)."""
    license = _locked(license_id)
    if license.expires_at is not None:
        start = max(timezone.now(), license.expires_at)
        license.expires_at = start + timedelta(days=days)
        license.save(update_fields=["expires_at", "updated_at"])
        publish(LicenseChanged(license_id=license.pk))
        publish_durable(LicenseRenewed(license_id=license.pk))
    return license


@transaction.atomic
def license_expiry_set(*, license_id: int, expires_at: datetime | None) -> License:
    """Set the expiry of `license` outright (a refunded renewal puts the old one back)."""
    license = _locked(license_id)
    license.expires_at = expires_at
    license.save(update_fields=["expires_at", "updated_at"])
    publish(LicenseChanged(license_id=license.pk))
    return license


@transaction.atomic
def license_change_tier(
    *, license_id: int, activation_limit: int, price_id: int | None, lifetime: bool = False
) -> License:
    """Move `license` to another tier: a new site limit, and lifetime if the tier is."""
    license = _locked(license_id)
    license.activation_limit = activation_limit
    license.price_id = price_id
    if lifetime:
        license.expires_at = None
    license.save(update_fields=["activation_limit", "price_id", "expires_at", "updated_at"])
    publish(LicenseChanged(license_id=license.pk))
    return license


@transaction.atomic
def license_revoke(*, license_id: int) -> License:
    """Revoke `license` (a refund, abuse): checks withhold packages, activations are refused."""
    license = _locked(license_id)
    if license.status != License.Status.REVOKED:
        license.status = License.Status.REVOKED
        license.revoked_at = timezone.now()
        license.save(update_fields=["status", "revoked_at", "updated_at"])
        publish(LicenseChanged(license_id=license.pk))
        publish_durable(LicenseRevoked(license_id=license.pk))
    return license


@transaction.atomic
def license_save(*, license: License) -> License:
    """Save a license edited in the admin (status, expiry, limit, owner) and announce it.

    A new one gets a fresh key, which its owner sees in their account; setting the status
    to revoked records when, as `license_revoke` does.
    """
    if license.pk is None:
        for field, value in _key_fields(key_generate()).items():
            setattr(license, field, value)
        license.save()
        publish_durable(LicenseIssued(license_id=license.pk))
    else:
        before = _locked(license.pk)
        revoked = License.Status.REVOKED
        if license.status == revoked and before.status != revoked:
            license.revoked_at = timezone.now()
            publish_durable(LicenseRevoked(license_id=license.pk))
        elif license.status != revoked:
            license.revoked_at = None
        license.save()
    publish(LicenseChanged(license_id=license.pk))
    return license


@transaction.atomic
def license_status_set(*, license_id: int, status: str) -> License:
    """Set the status of `license` (the admin's bulk actions): active, disabled or revoked."""
    if status == License.Status.REVOKED:
        return license_revoke(license_id=license_id)
    license = _locked(license_id)
    if license.status != status:
        license.status = status
        license.revoked_at = None
        license.save(update_fields=["status", "revoked_at", "updated_at"])
        publish(LicenseChanged(license_id=license.pk))
    return license


@transaction.atomic
def activation_save(*, activation: Activation) -> Activation:
    """Save an activation added or edited in the admin and announce it to its license.

    Moving it to another license announces the change to both.
    """
    moved_from = (
        Activation.objects.filter(pk=activation.pk).values_list("license_id", flat=True).first()
        if activation.pk is not None
        else None
    )
    # Taken in id order with any other license change, so two edits cannot deadlock.
    for license_id in sorted({activation.license_id, moved_from or activation.license_id}):
        _locked(license_id)
    if activation.is_active:
        activation.deactivated_at = None
    elif activation.deactivated_at is None:
        activation.deactivated_at = timezone.now()
    activation.site_url = activation.site_url or activation.site
    activation.save()
    for license_id in sorted({activation.license_id, moved_from or activation.license_id}):
        publish(LicenseChanged(license_id=license_id))
    return activation


@transaction.atomic
def activations_delete(*, activation_ids: Collection[int]) -> int:
    """Delete activations outright (the admin's delete); return how many were deleted.

    Customers deactivate instead, which keeps the history; a vendor may remove a row.
    """
    rows = Activation.objects.filter(pk__in=list(activation_ids))
    license_ids = sorted(set(rows.values_list("license_id", flat=True)))
    for license_id in license_ids:
        _locked(license_id)
    removed = list(rows.filter(is_active=True).values_list("license_id", "site"))
    deleted, _ = rows.delete()
    for license_id in license_ids:
        publish(LicenseChanged(license_id=license_id))
    for license_id, site in removed:
        publish_durable(ActivationRemoved(license_id=license_id, site=site))
    return deleted


@transaction.atomic
def product_upsert(*, slug: str, name: str, description: str = "", **fields: str) -> Product:
    """Create the product with `slug`, or update its name and details."""
    product, _ = Product.objects.update_or_create(
        slug=slug, defaults={"name": name, "description": description, **fields}
    )
    publish(ProductChanged(product_id=product.pk, slug=product.slug))
    return product


@transaction.atomic
def product_configure(
    *, slug: str, edd_item_id: int | None = None, activation: str | None = None
) -> Product:
    """Set how update clients find and activate a product; None keeps a setting as it is.

    `edd_item_id` is the download id EDD clients send as item_id (0 removes it);
    `activation` is "on_check" or "explicit" (see Product.activation).
    """
    product = Product.objects.select_for_update().filter(slug=slug).first()
    if product is None:
        raise product_unknown([slug])
    fields = []
    if activation is not None:
        if activation not in ActivationPolicy.values:
            raise DomainError(
                f"Unknown activation policy '{activation}'; use one of: "
                f"{', '.join(ActivationPolicy.values)}.",
                code="invalid_activation",
            )
        product.activation = activation
        fields.append("activation")
    if edd_item_id is not None:
        if edd_item_id < 0:
            raise DomainError("An EDD item id is a positive number.", code="invalid_edd_item_id")
        holder = (
            Product.objects.filter(edd_item_id=edd_item_id).exclude(pk=product.pk).first()
            if edd_item_id
            else None
        )
        if holder is not None:
            raise Conflict(
                f"EDD item id {edd_item_id} already belongs to {holder.name} ({holder.slug}).",
                code="edd_item_id_taken",
            )
        product.edd_item_id = edd_item_id or None
        fields.append("edd_item_id")
    if fields:
        product.save(update_fields=[*fields, "updated_at"])
        publish(ProductChanged(product_id=product.pk, slug=product.slug))
    return product


def product_release_note(
    *,
    product_id: int,
    version: str,
    changelog: str,
    requires_wp: str,
    tested_up_to: str,
    released_at: datetime | None,
) -> None:
    """Record the newest stable release on the product, for the storefront's plugin page."""
    Product.objects.filter(pk=product_id).update(
        latest_version=version,
        latest_changelog=changelog,
        requires_wp=requires_wp,
        tested_up_to=tested_up_to,
        released_at=released_at,
    )


@transaction.atomic
def products_delete(*, product_ids: Collection[int]) -> int:
    """Delete products (the admin's delete) and announce each, so update checks forget them."""
    products = list(Product.objects.filter(pk__in=list(product_ids)).values_list("pk", "slug"))
    deleted, _ = Product.objects.filter(pk__in=[pk for pk, _ in products]).delete()
    for product_id, slug in products:
        publish(ProductChanged(product_id=product_id, slug=slug))
    return deleted


@transaction.atomic
def product_save(*, product: Product) -> Product:
    """Save a product edited in the admin and announce the change."""
    product.save()
    publish(ProductChanged(product_id=product.pk, slug=product.slug))
    return product


# --- imports from another store (manage.py import_edd) --------------------------------------


@transaction.atomic
def product_import(*, edd_item_id: int, slug: str, name: str) -> tuple[Product, bool]:
    """Return the product EDD sold as download `edd_item_id`, creating it once; and if it is new.

    A product that already has this EDD item id is kept as it is (the vendor may have renamed
    it); one with the slug and no item id gets the id; a slug taken by another download's
    product is refused.
    """
    product = Product.objects.filter(edd_item_id=edd_item_id).first()
    if product is not None:
        return product, False
    product = Product.objects.select_for_update().filter(slug=slug).first()
    if product is not None:
        if product.edd_item_id is not None:
            raise Conflict(
                f"The slug '{slug}' belongs to {product.name}, EDD item {product.edd_item_id}.",
                code="slug_taken",
            )
        product.edd_item_id = edd_item_id
        product.save(update_fields=["edd_item_id", "updated_at"])
        created = False
    else:
        product = Product.objects.create(slug=slug, name=name, edd_item_id=edd_item_id)
        created = True
    publish(ProductChanged(product_id=product.pk, slug=product.slug))
    return product, created


@transaction.atomic
def license_import(
    *,
    key: str,
    product: Product,
    email: str,
    customer: User | None,
    status: str,
    activation_limit: int,
    expires_at: datetime | None,
    price_id: int | None,
    sites: Collection[tuple[str, bool]] = (),
) -> tuple[License, bool]:
    """Keep a license sold by another store under its own key; return it and whether it is new.

    The key is stored as ours are (HMAC for lookup, encrypted copy), never in plain text. A key
    already stored for this product returns that license untouched, so an import can run
    again; for another product it is refused. `sites` are (URL, is_staging) pairs the old store
    had activated: all are kept, past the limit too, as the old store answered for them. No
    LicenseIssued: the customer has had the key for a long time, and gets no e-mail.
    """
    refusal = key_foreign_refusal(key)
    if refusal is not None:
        raise DomainError(f"The key cannot be kept: {refusal}.", code="invalid_key")
    key = key.strip()
    digest = key_hash(key)
    existing = License.objects.filter(key_hash=digest).first()
    if existing is not None:
        if existing.product_id != product.pk:
            raise Conflict(
                f"Duplicate key: it already belongs to a license for {existing.product}.",
                code="duplicate_key",
            )
        return existing, False
    license = License.objects.create(
        **_key_fields(key),
        product=product,
        customer=customer,
        email=email,
        status=status,
        activation_limit=activation_limit,
        expires_at=expires_at,
        price_id=price_id,
    )
    rows: dict[str, Activation] = {}
    for site_url, is_staging in sites:
        site = site_normalise(site_url)
        rows.setdefault(
            site,
            Activation(
                license=license, site=site, site_url=site_url.strip()[:500], is_staging=is_staging
            ),
        )
    Activation.objects.bulk_create(rows.values())
    # Drops a negative cache entry should a site have tried this key before the import.
    publish(LicenseChanged(license_id=license.pk))
    return license, True


def renewal_reminders_publish(*, now: datetime | None = None) -> int:
    """Publish `LicenseExpiring` for each license whose reminder stage is due; return how many.

    Each stage is recorded (unique per license, stage and expiry) in the transaction that
    writes the durable event, so a task run twice, or two beats, publish it once: the loser's
    insert fails and its event is rolled back with it.
    """
    published = 0
    for due in renewal_reminders_due(now=now):
        try:
            with transaction.atomic():
                RenewalReminder.objects.create(
                    license_id=due.license_id, stage=due.stage, expires_at=due.expires_at
                )
                publish_durable(LicenseExpiring(license_id=due.license_id, stage=due.stage))
        except IntegrityError:
            continue  # published by a concurrent run
        published += 1
    return published
