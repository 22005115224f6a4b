"""Publish a plugin zip from the command line, e.g. at the end of a release script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.core.errors import DomainError
from apps.licenses.catalogue import add_product_options, product_describe, products_named
from apps.licenses.services import product_configure
from apps.updates import services
from apps.updates.models import Release
from apps.updates.publishing.zip_read import MAX_ZIP_BYTES


class Command(BaseCommand):
    help = (
        "Publish a WordPress plugin zip as a release. The product is the zip's folder (created "
        "from the plugin header if it does not exist yet) unless --product names it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("zip_path", help="path to the plugin zip")
        parser.add_argument(
            "--channel", default=Release.Channel.STABLE, choices=Release.Channel.values
        )
        parser.add_argument(
            "--rollout",
            type=int,
            default=100,
            metavar="PERCENT",
            help="share of licensed sites offered the release, 1 to 100 (default 100)",
        )
        parser.add_argument(
            "--product", metavar="SLUG", help="an existing product; the zip's folder must match"
        )
        add_product_options(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        content = _read(Path(options["zip_path"]))
        product = None
        if options["product"]:
            try:
                [product] = products_named([options["product"]])
            except DomainError as exc:
                raise CommandError(exc.message) from exc
        edd_item_id, activation = options["edd_item_id"], options["activation"]
        configure = edd_item_id is not None or activation is not None
        try:
            # One transaction: a refused setting (an EDD item id another product has) leaves no
            # release behind either. A known product is set first, so the zip is not even
            # stored then; one created from the zip can only be set once it exists.
            with transaction.atomic():
                if configure and product is not None:
                    product = product_configure(
                        slug=product.slug, edd_item_id=edd_item_id, activation=activation
                    )
                release = services.release_publish_zip(
                    zip_content=content,
                    product=product,
                    channel=options["channel"],
                    rollout_percent=options["rollout"],
                    create_product=product is None,
                )
                if configure and options["product"] is None:
                    product = product_configure(
                        slug=release.product.slug, edd_item_id=edd_item_id, activation=activation
                    )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Published {release.product.slug} {release.version} "
            f"({release.channel}, {release.rollout_percent}% rollout)"
        )
        if configure and product is not None:
            self.stdout.write(product_describe(product))


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise CommandError(f"{path} is not a file. Give the path of the plugin zip.")
    if path.stat().st_size > MAX_ZIP_BYTES:
        raise CommandError(f"{path} is larger than {MAX_ZIP_BYTES // 2**20} MB.")
    return path.read_bytes()
