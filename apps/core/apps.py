import contextlib

from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Subscribers register themselves on import; every app keeps them in receivers.py.
        autodiscover_modules("receivers")
        _outbox_gauges_register()


def _outbox_gauges_register() -> None:
    from prometheus_client import REGISTRY

    from apps.core.metrics import outbox_collector

    # Once per process: a second ready() (some test runners) finds it there already.
    with contextlib.suppress(ValueError):
        REGISTRY.register(outbox_collector)
