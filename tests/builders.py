"""The shop as tests and benches build it: products, tiers, releases, licenses, a checkout.

Every builder goes through the services a vendor or a customer would reach (product_upsert,
tier_upsert, release_publish, license_create, the cart and checkout pages), never through the
ORM, so what a builder makes is what production makes. Plain functions, no pytest: the
fixtures in tests/conftest.py wrap them, and bench/ imports them in its Django child process.

factory_boy is not used: its factories write model rows, and the rows here must come from the
services (keys hashed and encrypted, events published, releases stored); a factory wrapping a
service would be these functions with more to read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:  # imported where used: bench/ calls django.setup() before building
    from django.contrib.auth.models import User
    from django.test import Client

    from apps.licenses.models import License, Product
    from apps.store.models import PriceTier
    from apps.updates.models import Release

SITE = "https://shop.example.com/"
WP_UA = f"WordPress/6.7.1; {SITE}"
APPROVED = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"


# --- catalogue -------------------------------------------------------------------------------


def product_make(
    slug: str = "formwell", name: str | None = None, description: str = "", **fields: Any
) -> Product:
    """A product `slug` (named after it unless `name`), with only the details given."""
    from apps.licenses.services import product_upsert

    return product_upsert(slug=slug, name=name or slug.title(), description=description, **fields)


def product_listed(
    slug: str = "formwell",
    name: str | None = None,
    *,
    description: str = "<p>Forms that work.</p>",
    **fields: Any,
) -> Product:
    """A product with everything an update client shows: homepage, author, banners, icons."""
    name = name or slug.title()
    listing = {
        "homepage": f"https://{slug}.example.com/",
        "author": f"{name} Ltd",
        "author_homepage": f"https://{slug}.example.com/about/",
        "banner_low": f"https://cdn.example.com/{slug}-772x250.png",
        "banner_high": f"https://cdn.example.com/{slug}-1544x500.png",
        "icon_1x": f"https://cdn.example.com/{slug}-128.png",
        "icon_2x": f"https://cdn.example.com/{slug}-256.png",
        "icon_svg": f"https://cdn.example.com/{slug}.svg",
    }
    return product_make(slug, name, description, **{**listing, **fields})


@dataclass(frozen=True)
class Shop:
    product: Product
    personal: PriceTier
    business: PriceTier
    lifetime: PriceTier


def shop_create(
    slug: str = "formwell",
    *,
    name: str | None = None,
    description: str = "Forms, done well.",
    **fields: Any,
) -> Shop:
    """Put a plugin on sale with three tiers: $49 1 site, $99 5 sites, $299 lifetime unlimited."""
    from apps.store.services import tier_upsert

    product = product_make(slug, name, description, **fields)
    return Shop(
        product=product,
        personal=tier_upsert(
            product=product, name="Personal", sites_allowed=1, term="year", amount=4900
        ),
        business=tier_upsert(
            product=product, name="Business", sites_allowed=5, term="year", amount=9900, position=1
        ),
        lifetime=tier_upsert(
            product=product,
            name="Agency",
            sites_allowed=0,
            term="lifetime",
            amount=29900,
            position=2,
        ),
    )


# --- releases --------------------------------------------------------------------------------


def release_make(
    product: Product, version: str, *, zip_description: str = "x", **fields: Any
) -> Release:
    """Publish `version` of `product` from a built plugin zip, with a full readme by default."""
    from apps.updates.publishing.plugin_zip import PluginSpec, plugin_zip_build
    from apps.updates.services import release_publish

    spec = PluginSpec(
        slug=product.slug, name=product.name, version=version, description=zip_description
    )
    fields.setdefault("requires_wp", "6.0")
    fields.setdefault("requires_php", "7.4")
    fields.setdefault("tested_up_to", "6.7")
    fields.setdefault("changelog", f"<h4>{version}</h4><ul><li>Fixes.</li></ul>")
    fields.setdefault("upgrade_notice", f"{version} is a safe update.")
    fields.setdefault("description", "<p>Forms that work.</p>")
    fields.setdefault("installation", "<p>Upload and activate.</p>")
    return release_publish(
        product=product, version=version, zip_content=plugin_zip_build(spec), **fields
    )


# --- licenses and customers ------------------------------------------------------------------


class Issued(NamedTuple):
    """A license and its key (shown once): `issued.key`, or `license, key = issued`."""

    license: License
    key: str


def license_make(
    product: Product,
    *,
    email: str = "buyer@example.com",
    sites: int = 3,
    days: float | None = 365,
    activate: str | None = None,
    customer: User | None = None,
    tier: PriceTier | None = None,
) -> Issued:
    """A license for `sites` sites (0: unlimited) ending in `days` (None: lifetime).

    `activate` is a site to activate it on; `tier` records the price it was bought at.
    """
    from django.utils import timezone

    from apps.licenses.services import license_activate, license_create

    license, key = license_create(
        product=product,
        email=email,
        activation_limit=sites,
        expires_at=timezone.now() + timedelta(days=days) if days is not None else None,
        customer=customer,
        price_id=tier.pk if tier is not None else None,
    )
    if activate:
        license_activate(license_id=license.pk, site_url=activate)
    return Issued(license, key)


def customer_make(email: str = "buyer@example.com", password: str = "x") -> User:  # noqa: S107
    """A customer account, its username its e-mail address (as checkout creates them)."""
    from django.contrib.auth.models import User

    return User.objects.create_user(username=email, email=email, password=password)


# --- the customer's side of the checkout -----------------------------------------------------


def checkout_token_of(html: str) -> str:
    match = re.search(r'name="checkout_token" value="([^"]+)"', html)
    assert match, "the checkout form has no token"
    return match.group(1)


def checkout_form(client: Client, **overrides: Any) -> dict[str, str]:
    """Open the checkout page and return a filled-in form (its own token) to POST."""
    page = client.get("/checkout/")
    assert page.status_code == 200, page.status_code
    form = {
        "checkout_token": checkout_token_of(page.content.decode()),
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "country": "GB",
        "card_number": APPROVED,
        "card_expiry": "12/39",
        "card_cvc": "123",
    }
    form.update({key: str(value) for key, value in overrides.items()})
    return form


def cart_fill(client: Client, *tiers: PriceTier, coupon: str = "") -> None:
    """Add `tiers` to the cart and apply `coupon`, as the shop's buttons do."""
    for tier in tiers:
        client.post("/cart/add/", {"tier": tier.pk})
    if coupon:
        client.post("/cart/coupon/", {"code": coupon})


def buy(client: Client, *tiers: PriceTier, coupon: str = "", **overrides: Any) -> Any:
    """Add `tiers` to the cart, apply `coupon`, check out; return the checkout response."""
    cart_fill(client, *tiers, coupon=coupon)
    return client.post("/checkout/", checkout_form(client, **overrides))
