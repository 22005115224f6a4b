"""Create a publish token for the vendor API and print it, once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import DomainError
from apps.licenses.catalogue import products_named
from apps.updates import services


class Command(BaseCommand):
    help = (
        "Create a token a build pipeline uses to publish releases through "
        "POST /vendor/api/v1/releases. Prints the token on stdout; it is not stored. Say what "
        "it may publish: --product SLUG (repeat for several) or --all-products."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="who uses it, e.g. 'GitHub Actions'")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument(
            "--product",
            action="append",
            default=[],
            metavar="SLUG",
            help="a product it may publish (repeat for several)",
        )
        scope.add_argument(
            "--all-products",
            action="store_true",
            help="may publish every product, including products added later",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slugs: list[str] = options["product"]
        all_products: bool = options["all_products"]
        if not slugs and not all_products:
            # A token for everything is never the silent default: it has to be asked for.
            raise CommandError(
                "Say what the token may publish: --product SLUG (repeat for several), or "
                "--all-products for every product, including products added later."
            )
        try:
            products = products_named(slugs)
            token, secret = services.publish_token_create(
                name=options["name"], products=products, all_products=all_products
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        scope = (
            "every product (--all-products, including products added later)"
            if all_products
            else ", ".join(sorted(p.slug for p in products))
        )
        self.stderr.write(
            f"Created publish token '{token.name}' for {scope}. Store it now, e.g. as a CI "
            "secret; it is not shown again."
        )
        self.stdout.write(secret)
