"""The Celery application shared by the worker, beat and the processes that enqueue."""

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("depot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_worker_logs(logger: logging.Logger, **kwargs: Any) -> None:
    """Give the handlers Celery installs in workers and beat the filter Django's LOGGING has.

    Celery replaces the root logger's handlers in its processes, so the filter configured in
    settings would not see a worker's lines (a task's exception may quote a URL with a key).
    """
    from apps.core.logging import RedactSecrets

    for handler in logger.handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
