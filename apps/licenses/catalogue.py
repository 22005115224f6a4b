"""The catalogue entity other apps may use: `Product`, which store and updates point at.

Product lives with the licenses it is sold under, but store (tiers, orders, coupons) and updates
(releases, tokens) hold foreign keys to it and look products up, so it is public; License and
Activation are not, and are reached through `apps.licenses.selectors` and `services`. The
command-line options that set a product's client settings live here too, so `product` and
`publish_release` (in updates) declare them once.
"""

from __future__ import annotations

import argparse

from apps.licenses.models import ActivationPolicy, Product

__all__ = ["ActivationPolicy", "Product", "add_product_options", "product_describe"]


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
