from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Sales, license and install reports with charts in the admin (web role only)."""

    name = "apps.reports"
    label = "reports"
    verbose_name = "Reports"
