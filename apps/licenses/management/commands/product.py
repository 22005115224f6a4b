"""Show or change how update clients find and activate a product, from a script."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import DomainError
from apps.licenses.catalogue import add_product_options, product_describe
from apps.licenses.services import product_configure


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
