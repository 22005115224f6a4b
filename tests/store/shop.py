"""Helpers for store tests: a product on sale, and a customer going through the checkout."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.test import Client

from apps.licenses.models import Product
from apps.licenses.services import product_upsert
from apps.store.models import PriceTier
from apps.store.services import tier_upsert

APPROVED = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"


@dataclass(frozen=True)
class Shop:
    product: Product
    personal: PriceTier
    business: PriceTier
    lifetime: PriceTier


def shop_create(slug: str = "formwell") -> Shop:
    """Put a plugin on sale with three tiers: $49 1 site, $99 5 sites, $299 lifetime unlimited."""
    product = product_upsert(slug=slug, name=slug.title(), description="Forms, done well.")
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


def buy(client: Client, *tiers: PriceTier, coupon: str = "", **overrides: Any) -> Any:
    """Add `tiers` to the cart, apply `coupon`, check out; return the checkout response."""
    for tier in tiers:
        client.post("/cart/add/", {"tier": tier.pk})
    if coupon:
        client.post("/cart/coupon/", {"code": coupon})
    return client.post("/checkout/", checkout_form(client, **overrides))
