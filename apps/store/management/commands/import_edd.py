"""Import an EDD Software Licensing store: `manage.py import_edd <export files or folder>`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.store.edd_import import BATCH_SIZE, ExportError, edd_import, export_read


class Command(BaseCommand):
    help = (
        "Import products, price options, customers, licenses (with their keys) and activated "
        "sites from EDD's CSV exports: downloads and licenses, optionally customers. "
        "Running it again changes nothing already imported. See docs/import_edd.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "export", nargs="+", type=Path, help="EDD's export CSV files, or a folder of them."
        )
        parser.add_argument(
            "--timezone",
            default="UTC",
            help="The old WordPress site's timezone (Settings → General), in which EDD wrote "
            "its dates; default UTC keeps EDD's expiry strings exactly.",
        )
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            export = export_read(options["export"], timezone_name=options["timezone"])
        except ZoneInfoNotFoundError:
            raise CommandError(f"Unknown timezone '{options['timezone']}'.") from None
        except ExportError as exc:
            raise CommandError(str(exc)) from None
        for kind, path in sorted(export.files.items()):
            self.stdout.write(f"{kind}: {path}")
        self.stdout.write(
            f"read {len(export.downloads)} downloads, {len(export.licenses)} licenses, "
            f"{len(export.customers)} customers"
        )
        summary = edd_import(export, out=self.stdout.write, batch_size=options["batch_size"])
        self.stdout.write(self.style.SUCCESS("EDD import finished:"))
        for line in summary.lines():
            self.stdout.write(f"  {line}")
        self.stdout.write(f"  took {time.monotonic() - started:.1f} s")
