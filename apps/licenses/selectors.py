"""Reads of the licensing app."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.text import slugify

from apps.licenses.keys import key_decrypt, key_foreign_refusal, key_hash
from apps.licenses.models import License, Product
from apps.licenses.rules import license_refusal
from apps.licenses.state import (
    LicenseCheck,
    LicenseState,
    license_state_check,
    license_state_of,
    license_state_product_refusal,
    license_state_slot_refusal,
    license_states_of,
)

__all__ = [
    "LicenseCheck",
    "LicenseState",
    "license_by_key",
    "license_check",
    "license_for_order_line",
    "license_key_digest",
    "license_key_foreign_refusal",
    "license_key_hash_of",
    "license_key_reveal",
    "license_refusal",
    "license_state_by_hash",
    "license_state_by_id",
    "license_state_check",
    "license_state_product_refusal",
    "license_state_slot_refusal",
    "license_states_by_hash",
    "product_by_slug",
    "product_for_edd",
    "products_for_updates",
]


def license_key_reveal(*, license: License) -> str:
    """Return the plain key of `license`, for its owner."""
    return key_decrypt(license.key_encrypted)


def license_key_digest(key: str) -> str:
    """Return the lookup hash of a key as presented by a client (no database access)."""
    return key_hash(key)


def license_key_foreign_refusal(key: str) -> str | None:
    """Return why a key made by another store cannot be kept as it is, or None if it can."""
    return key_foreign_refusal(key)


def license_by_key(*, key: str) -> License | None:
    """Return the license with this key, or None."""
    return License.objects.select_related("product").filter(key_hash=key_hash(key)).first()


def license_key_hash_of(*, license_id: int) -> str | None:
    """Return the key hash of a license by id (to drop its cached state), or None."""
    return License.objects.filter(pk=license_id).values_list("key_hash", flat=True).first()


def license_state_by_hash(*, key_hash: str) -> LicenseState | None:
    """Load the state of the license with this key hash (two queries), or None."""
    license = (
        License.objects.select_related("product", "customer").filter(key_hash=key_hash).first()
    )
    return license_state_of(license) if license is not None else None


def license_states_by_hash(*, key_hashes: Sequence[str]) -> dict[str, LicenseState]:
    """Load the states of the licenses with these key hashes, by hash; unknown ones are absent.

    One indexed query finds them all (a batch of unknown keys costs nothing more) and one
    more reads the sites of every license found, however many there are.
    """
    licenses = License.objects.select_related("product", "customer").filter(
        key_hash__in=list(key_hashes)
    )
    return {state.key_hash: state for state in license_states_of(licenses)}


def license_state_by_id(*, license_id: int) -> LicenseState | None:
    """Load the state of a license by id, or None."""
    license = License.objects.select_related("product", "customer").filter(pk=license_id).first()
    return license_state_of(license) if license is not None else None


def product_for_edd(*, item_id: int | None, item_name: str) -> Product | None:
    """Find the product an EDD client means: its EDD item id (or our id), else its name."""
    products = Product.objects.filter(is_active=True)
    if item_id:
        return (
            products.filter(edd_item_id=item_id).first()
            or products.filter(pk=item_id, edd_item_id__isnull=True).first()
        )
    if item_name:
        # EDD compares sanitize_title() of both names: lower case, punctuation to dashes.
        wanted = slugify(item_name)
        return next((p for p in products if slugify(p.name) == wanted), None)
    return None


def products_for_updates() -> list[tuple[int, str, int | None, str]]:
    """Return (id, slug, EDD item id, name) of each active product, in `product_for_edd`'s order."""
    return list(
        Product.objects.filter(is_active=True).values_list("pk", "slug", "edd_item_id", "name")
    )


def product_by_slug(*, slug: str) -> Product | None:
    """Return the active product with this slug, or None."""
    return Product.objects.filter(slug=slug, is_active=True).first()


def license_for_order_line(*, order_line_id: int) -> License | None:
    """Return the license issued for an order line, or None."""
    return License.objects.filter(order_line_id=order_line_id).first()


def license_check(
    *, key: str, product: Product | None = None, site_url: str | None = None
) -> LicenseCheck:
    """Check `key` for `product` on `site_url` against the database."""
    state = license_state_by_hash(key_hash=key_hash(key)) if key.strip() else None
    return license_state_check(
        state,
        product_id=product.pk if product is not None else None,
        product_name=product.name if product is not None else "",
        site_url=site_url,
    )


def license_of_customer(*, license_id: int, customer_id: int) -> License | None:
    """Return the license with this id if it belongs to the customer, else None."""
    return (
        License.objects.select_related("product")
        .filter(pk=license_id, customer_id=customer_id)
        .first()
    )


def licenses_of_customer(*, customer_id: int) -> list[License]:
    """Return the customer's licenses, newest first, with product and activations loaded."""
    return list(
        License.objects.select_related("product")
        .prefetch_related("activations")
        .filter(customer_id=customer_id)
        .order_by("-created_at")
    )


def licenses_for_order_lines(*, order_line_ids: list[int]) -> dict[int, License]:
    """Return the licenses issued for these order lines, by order line id."""
    return {
        license.order_line_id: license
        for license in License.objects.select_related("product").filter(
            order_line_id__in=order_line_ids
        )
        if license.order_line_id is not None
    }


def licenses_by_ids(*, license_ids: list[int]) -> dict[int, License]:
    """Return the licenses with these ids, by id."""
    return {
        license.pk: license
        for license in License.objects.select_related("product").filter(pk__in=license_ids)
    }
