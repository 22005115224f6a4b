"""manage.py db_restore NAME --database DB [--force] [--scrub]: download, verify, import."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.backups.management.commands._common import plainly
from apps.backups.management.commands.db_import import import_arguments, report
from apps.backups.services import backup_restore, backup_target


class Command(BaseCommand):
    help = (
        "Restore backup NAME (or `latest`) into a database you name: download to a temporary "
        "file, verify its SHA-256 against the manifest, then import. A database with tables is "
        "refused unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="depot-<UTC time> as db_list shows it, or latest.")
        import_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        with plainly():
            target = backup_target(options["database"], url=options["database_url"])
            done = backup_restore(
                name=options["name"],
                target=target,
                force=options["force"],
                scrub=options["scrub"],
                stderr=self.stderr,
            )
        report(self, done)
