"""manage.py db_upload FILE: put an exported dump and its manifest into backup storage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.backups.management.commands._common import plainly, sizes
from apps.backups.services import backup_upload


class Command(BaseCommand):
    help = (
        "Upload a db_export dump (FILE.sql.gz with FILE.json beside it) to the backup bucket "
        "or directory; the upload is checked against the manifest's SHA-256."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The .sql.gz that db_export wrote.")

    def handle(self, *args: Any, **options: Any) -> None:
        with plainly():
            manifest = backup_upload(path=Path(options["file"]), stderr=self.stderr)
        self.stdout.write(f"uploaded {manifest['name']} ({sizes(manifest['size'])})")
