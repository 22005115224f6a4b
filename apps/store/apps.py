from django.apps import AppConfig


class StoreConfig(AppConfig):
    name = "apps.store"
    label = "store"
    verbose_name = "Store"
