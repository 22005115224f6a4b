"""Writes of the licensing app. Activation, renewal and revocation come with the update API."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction

from apps.licenses.keys import key_encrypt, key_generate, key_hash
from apps.licenses.models import License, Product


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
        key_hash=key_hash(key),
        key_encrypted=key_encrypt(key),
        key_hint=key[-4:],
        product=product,
        customer=customer,
        email=email,
        activation_limit=activation_limit,
        expires_at=expires_at,
        price_id=price_id,
        order_line_id=order_line_id,
    )
    return license, key


def product_upsert(*, slug: str, name: str, description: str = "", **fields: str) -> Product:
    """Create the product with `slug`, or update its name and details."""
    product, _ = Product.objects.update_or_create(
        slug=slug, defaults={"name": name, "description": description, **fields}
    )
    return product
