from django.apps import AppConfig


class AccountConfig(AppConfig):
    """The customer's account pages: a top-layer app over store, licenses and updates."""

    name = "apps.account"
    label = "account"
    verbose_name = "Customer account"
