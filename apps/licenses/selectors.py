from __future__ import annotations

from apps.licenses.keys import key_decrypt, key_hash
from apps.licenses.models import License, Product


def license_key_reveal(*, license: License) -> str:
    """Return the plain key of `license`, for its owner."""
    return key_decrypt(license.key_encrypted)


def license_by_key(*, key: str) -> License | None:
    """Return the license with this key, or None."""
    return License.objects.select_related("product").filter(key_hash=key_hash(key)).first()


def product_by_slug(*, slug: str) -> Product | None:
    """Return the active product with this slug, or None."""
    return Product.objects.filter(slug=slug, is_active=True).first()


def license_for_order_line(*, order_line_id: int) -> License | None:
    """Return the license issued for an order line, or None."""
    return License.objects.filter(order_line_id=order_line_id).first()
