from django.apps import AppConfig


class DemoConfig(AppConfig):
    """`seed_demo`, the development command that fills every app with a demo store."""

    name = "apps.demo"
    label = "demo"
    verbose_name = "Demo data"
