from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Subscribers register themselves on import; every app keeps them in receivers.py.
        autodiscover_modules("receivers")
