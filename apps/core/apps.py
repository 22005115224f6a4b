from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        # Subscribers register themselves on import; every app keeps them in receivers.py.
        autodiscover_modules("receivers")
        # Metrics too: each app's metrics module registers its scrape-time collectors (orders,
        # licenses, e-mails, apps.core.metrics), so core never imports the apps above it.
        autodiscover_modules("metrics")
        _outbox_gauges_register()
        _task_metrics_connect()


def _outbox_gauges_register() -> None:
    from apps.core.metrics import outbox_collector, scrape_time_register

    scrape_time_register(outbox_collector)


def _task_metrics_connect() -> None:
    # Celery's signals, connected in every process: only a worker ever sends them.
    import apps.core.task_metrics  # noqa: F401
