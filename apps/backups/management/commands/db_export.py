"""manage.py db_export [--output DIR]: dump the database to a local .sql.gz and its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.backups.management.commands._common import plainly, sizes
from apps.backups.services import backup_export


class Command(BaseCommand):
    help = (
        "Dump the MySQL/MariaDB database (one consistent snapshot, no table locks) into DIR as "
        "depot-<UTC time>.sql.gz and a .json manifest (checksum, version, migrations, row counts)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--output", default=".", help="Directory to write to (default: here).")

    def handle(self, *args: Any, **options: Any) -> None:
        with plainly():
            path, manifest = backup_export(directory=Path(options["output"]), stderr=self.stderr)
        self.stdout.write(
            f"{path} ({sizes(manifest['size'])}, sha256 {manifest['sha256']}); "
            f"manifest {path.name.removesuffix('.sql.gz')}.json"
        )
