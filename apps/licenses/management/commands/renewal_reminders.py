"""`manage.py renewal_reminders`: publish the reminder stages due now, as beat's daily task does."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from apps.licenses.services import renewal_reminders_publish


class Command(BaseCommand):
    help = (
        "Publish LicenseExpiring for each license at a reminder stage (DEPOT_RENEWAL_REMINDER_"
        "DAYS) not published yet; the e-mails follow from the worker. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = renewal_reminders_publish()
        self.stdout.write(f"{count} renewal reminder(s) published.")
