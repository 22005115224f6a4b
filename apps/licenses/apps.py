from django.apps import AppConfig


class LicensesConfig(AppConfig):
    name = "apps.licenses"
    label = "licenses"
    verbose_name = "Licenses"
