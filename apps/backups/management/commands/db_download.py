"""manage.py db_download NAME: fetch a stored backup and its manifest, checksum verified."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.backups.management.commands._common import plainly
from apps.backups.services import backup_download


class Command(BaseCommand):
    help = (
        "Download backup NAME (as db_list shows it, or `latest`) into DIR; a file whose "
        "SHA-256 differs from its manifest's is deleted, not kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="depot-<UTC time>, or latest.")
        parser.add_argument("--output", default=".", help="Directory to write to (default: here).")

    def handle(self, *args: Any, **options: Any) -> None:
        with plainly():
            path = backup_download(
                name=options["name"], directory=Path(options["output"]), stderr=self.stderr
            )
        self.stdout.write(f"{path} (checksum verified)")
