"""manage.py db_list: the stored backups, newest first, with size, age and checksum."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone
from django.utils.timesince import timesince

from apps.backups.management.commands._common import plainly, sizes
from apps.backups.services import backup_list
from apps.backups.storage import backup_store


class Command(BaseCommand):
    help = "List the stored backups, newest first: name, size, age, SHA-256 from the manifest."

    def handle(self, *args: Any, **options: Any) -> None:
        with plainly():
            found = backup_list()
            location = backup_store().location
        if not found:
            self.stdout.write(f"no backups in {location}")
            return
        self.stdout.write(f"{len(found)} backups in {location}")
        now = timezone.now()
        for backup in found:
            sha = backup.sha256 or "(no manifest: incomplete, not restorable by db_restore)"
            age = timesince(backup.created, now, depth=1)
            self.stdout.write(f"{backup.name}  {sizes(backup.size):>9}  {age:>12} ago  {sha}")
