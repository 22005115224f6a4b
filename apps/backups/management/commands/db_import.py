"""manage.py db_import FILE --database NAME [--force] [--scrub]: load a dump into a database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.backups.management.commands._common import counts_line, plainly
from apps.backups.services import backup_import, backup_target


def import_arguments(parser: CommandParser) -> None:
    """Add the target options db_import and db_restore share."""
    parser.add_argument(
        "--database",
        required=True,
        help="The database to load into, on the same server as DATABASE_URL (made if missing).",
    )
    parser.add_argument(
        "--database-url", default="", help="Another server: mysql://user:password@host:port/x"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="Load into a database that has tables: every one of them is dropped first.",
    )
    parser.add_argument(
        "--scrub",
        action="store_true",
        help=(
            "For a developer's copy: replace customers' names and e-mails, remove payment "
            "references, invalidate license keys, publish tokens, sessions and passwords, "
            "empty the mail outbox and sign-in records (README: Backups and restore)."
        ),
    )


class Command(BaseCommand):
    help = (
        "Import a db_export dump (checked against its manifest first, when there is one) into "
        "a database you name; a database with tables is refused unless --force."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The .sql.gz (db_export or db_download).")
        import_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        with plainly():
            target = backup_target(options["database"], url=options["database_url"])
            done = backup_import(
                path=Path(options["file"]),
                target=target,
                force=options["force"],
                scrub=options["scrub"],
                stderr=self.stderr,
            )
        report(self, done)


def report(command: BaseCommand, done: Any) -> None:
    """Say what was imported, row counts beside the manifest's, and what the scrub changed."""
    if not done.verified:
        command.stderr.write("no manifest beside the file: its checksum was not verified")
    command.stdout.write(
        f"imported into {done.database}: {counts_line(done.row_counts, done.expected)}"
    )
    if done.scrubbed:
        command.stdout.write(f"scrubbed: {', '.join(done.scrubbed)}")
