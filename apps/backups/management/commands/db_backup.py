"""manage.py db_backup: export straight into backup storage, then apply the retention."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from apps.backups.management.commands._common import plainly, sizes
from apps.backups.services import backup_run


class Command(BaseCommand):
    help = (
        "Back the database up to the bucket (or DEPOT_BACKUP_DIR): dump, gzip, SHA-256 and "
        "upload in one stream, manifest after; then delete what the retention does not keep. "
        "What cron and the Kubernetes CronJob run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--keep-daily",
            type=int,
            default=None,
            help="Newest backup of each of the last N days that have one "
            "(default DEPOT_BACKUP_KEEP_DAILY).",
        )
        parser.add_argument(
            "--keep-weekly",
            type=int,
            default=None,
            help="Newest backup of each of the last M ISO weeks that have one "
            "(default DEPOT_BACKUP_KEEP_WEEKLY).",
        )
        parser.add_argument("--no-prune", action="store_true", help="Delete nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        daily = options["keep_daily"]
        weekly = options["keep_weekly"]
        with plainly():
            manifest, pruned = backup_run(
                keep_daily=settings.DEPOT_BACKUP_KEEP_DAILY if daily is None else daily,
                keep_weekly=settings.DEPOT_BACKUP_KEEP_WEEKLY if weekly is None else weekly,
                prune=not options["no_prune"],
                stderr=self.stderr,
            )
        self.stdout.write(
            f"backed up {manifest['name']} ({sizes(manifest['size'])}, sha256 {manifest['sha256']})"
        )
        if pruned:
            self.stdout.write(f"deleted {len(pruned)} old: {', '.join(pruned)}")
