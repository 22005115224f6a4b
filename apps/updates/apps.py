from django.apps import AppConfig
from django.apps import apps as django_apps


class UpdatesConfig(AppConfig):
    name = "apps.updates"
    label = "updates"
    verbose_name = "Updates"

    def ready(self) -> None:
        # The updates role runs without the admin; the web role shows the install tables.
        if django_apps.is_installed("django.contrib.admin"):
            from apps.updates.stats import admin as admin_stats  # noqa: F401
