from django.apps import AppConfig


class BackupsConfig(AppConfig):
    """Backups (management commands db_*) and the backup-age gauge (metrics.py, found by core)."""

    name = "apps.backups"
    label = "backups"
    verbose_name = "Backups"
