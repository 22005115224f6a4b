"""The catalogue entity other apps may use: `Product`, which store and updates point at.

Product lives with the licenses it is sold under, but store (tiers, orders, coupons) and updates
(releases, tokens) hold foreign keys to it and look products up, so it is public; License and
Activation are not, and are reached through `apps.licenses.selectors` and `services`. The
command-line options that set a product's client settings live here too, so `product` and
`publish_release` (in updates) declare them once, and so does the refusal of a slug no product
has, which every command and service that takes a slug gives alike.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence

from apps.core.errors import NotFound
from apps.licenses.models import ActivationPolicy, Product

__all__ = [
    "ActivationPolicy",
    "Product",
    "add_product_options",
    "product_describe",
    "product_unknown",
    "products_named",
]


def product_unknown(slugs: Iterable[str]) -> NotFound:
    """Refuse slugs no product has, naming the products there are to choose from."""
    named = ", ".join(f"'{slug}'" for slug in slugs)
    known = ", ".join(Product.objects.order_by("slug").values_list("slug", flat=True))
    return NotFound(
        f"No product has the slug {named}. Known products: {known or 'none yet'}.",
        code="unknown_product",
    )


def products_named(slugs: Sequence[str]) -> list[Product]:
    """Return the products with these slugs (active or not); `product_unknown` if any is none."""
    products = list(Product.objects.filter(slug__in=slugs))
    missing = sorted(set(slugs) - {product.slug for product in products})
    if missing:
        raise product_unknown(missing)
    return products


def edd_item_id_arg(value: str) -> int:
    """Parse --edd-item-id: a positive download id, or 0 (or "none") to remove it."""
    if value.strip().lower() == "none":
        return 0
    if not value.strip().isdigit() or len(value.strip()) > 9:
        raise argparse.ArgumentTypeError("expected EDD's download id (a positive number) or 0")
    return int(value)


def add_product_options(parser: argparse.ArgumentParser) -> None:
    """Add --edd-item-id and --activation, shared by the product and publish_release commands."""
    parser.add_argument(
        "--edd-item-id",
        type=edd_item_id_arg,
        metavar="N",
        help="the download id plugins sold through EDD send as item_id; 0 removes it",
    )
    parser.add_argument(
        "--activation",
        choices=ActivationPolicy.values,
        help=(
            "on_check: the first licensed PUC or native check from a new site takes a free "
            "slot (the default); explicit: only an activation request does"
        ),
    )


def product_describe(product: Product) -> str:
    """One line naming the product's client settings."""
    edd = product.edd_item_id if product.edd_item_id is not None else "none"
    return f"{product.slug}: edd_item_id={edd} activation={product.activation}"
