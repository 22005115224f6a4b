"""Show or change how update clients find and activate a product, from a script."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import DomainError
from apps.licenses.models import ActivationPolicy, Product
from apps.licenses.services import product_configure


def edd_item_id_arg(value: str) -> int:
    """Parse --edd-item-id: a positive download id, or 0 (or "none") to remove it."""
    if value.strip().lower() == "none":
        return 0
    if not value.strip().isdigit() or len(value.strip()) > 9:
        raise argparse.ArgumentTypeError("expected EDD's download id (a positive number) or 0")
    return int(value)


def add_product_options(parser: CommandParser) -> None:
    """Add --edd-item-id and --activation, shared with publish_release."""
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


class Command(BaseCommand):
    help = (
        "Show a product's update-client settings, or change them: its EDD item id and whether "
        "sites activate on their first licensed update check or only explicitly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="the product's slug (the plugin's folder name)")
        add_product_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            product = product_configure(
                slug=options["slug"],
                edd_item_id=options["edd_item_id"],
                activation=options["activation"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(product_describe(product))
