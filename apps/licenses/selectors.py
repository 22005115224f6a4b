from __future__ import annotations

from dataclasses import dataclass

from apps.licenses.keys import key_decrypt, key_hash
from apps.licenses.models import License, Product
from apps.licenses.rules import license_refusal
from apps.licenses.sites import site_normalise


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


@dataclass(frozen=True)
class LicenseCheck:
    """What a check of a key for a product and site found; `status` is EDD's status string."""

    status: str
    message: str
    license: License | None = None

    @property
    def entitled(self) -> bool:
        """Whether this site may download updates: valid, or staging that uses no slot."""
        return self.status == "valid"


def license_check(
    *, key: str, product: Product | None = None, site_url: str | None = None
) -> LicenseCheck:
    """Check `key` for `product` on `site_url` with EDD's statuses and a sentence for humans."""
    license = license_by_key(key=key) if key.strip() else None
    if license is None:
        return LicenseCheck("invalid", "This license key is not valid. Check it in your account.")
    if product is not None and license.product_id != product.pk:
        return LicenseCheck(
            "item_name_mismatch",
            f"This license key is for {license.product.name}, not {product.name}.",
            license,
        )
    refusal = license_refusal(license)
    if refusal is not None:
        return LicenseCheck(refusal.code, refusal.message, license)
    if site_url is None:
        return LicenseCheck("valid", "This license is valid.", license)
    try:
        site = site_normalise(site_url)
    except ValueError as exc:
        return LicenseCheck("site_inactive", str(exc), license)
    active = license.activations.filter(is_active=True)
    if active.filter(site=site).exists():
        return LicenseCheck("valid", "This license is active on this site.", license)
    if not active.exists():
        return LicenseCheck("inactive", "Activate this license to receive updates.", license)
    return LicenseCheck(
        "site_inactive",
        "This license is not activated for this site. Activate it in the plugin's settings.",
        license,
    )
