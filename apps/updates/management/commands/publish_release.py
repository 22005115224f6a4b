"""Publish a plugin zip from the command line, e.g. at the end of a release script."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.core.errors import DomainError
from apps.licenses.models import Product
from apps.updates import services
from apps.updates.models import Release
from apps.updates.zip_read import MAX_ZIP_BYTES


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

    def handle(self, *args: Any, **options: Any) -> None:
        content = _read(Path(options["zip_path"]))
        product = None
        if options["product"]:
            product = Product.objects.filter(slug=options["product"]).first()
            if product is None:
                known = ", ".join(Product.objects.order_by("slug").values_list("slug", flat=True))
                raise CommandError(
                    f"No product has the slug '{options['product']}'. "
                    f"Known products: {known or 'none yet'}."
                )
        try:
            release = services.release_publish_zip(
                zip_content=content,
                product=product,
                channel=options["channel"],
                rollout_percent=options["rollout"],
                create_product=product is None,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Published {release.product.slug} {release.version} "
            f"({release.channel}, {release.rollout_percent}% rollout)"
        )


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise CommandError(f"{path} is not a file. Give the path of the plugin zip.")
    if path.stat().st_size > MAX_ZIP_BYTES:
        raise CommandError(f"{path} is larger than {MAX_ZIP_BYTES // 2**20} MB.")
    return path.read_bytes()
