"""The Celery application shared by the worker, beat and the processes that enqueue."""

import logging
import os
from typing import Any

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_init,
    worker_process_init,
    worker_process_shutdown,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("depot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The message header that carries the id of the request that caused a task, so the task's log
# lines (and the tasks it enqueues in turn) carry it too.
REQUEST_ID_HEADER = "depot_request_id"


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_worker_logs(logger: logging.Logger, **kwargs: Any) -> None:
    """Give the handlers Celery installs in workers and beat the filters Django's LOGGING has.

    Celery replaces the root logger's handlers in its processes, so the filters configured in
    settings would not see a worker's lines (a task's exception may quote a URL with a key);
    with DEPOT_LOG_FORMAT=json its lines are JSON too, with the request and trace ids.
    """
    from django.conf import settings

    from apps.core.logging import JsonFormatter, LogContext, RedactSecrets

    json_lines = getattr(settings, "DEPOT_LOG_FORMAT", "plain") == "json"
    for handler in logger.handlers:
        if not any(isinstance(f, LogContext) for f in handler.filters):
            handler.addFilter(LogContext())
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
        if json_lines:
            handler.setFormatter(JsonFormatter())


def _pool_is_prefork(worker: Any) -> bool:
    pool = getattr(worker, "pool_cls", "prefork")
    name = pool if isinstance(pool, str) else f"{pool.__module__}.{pool.__qualname__}"
    return "prefork" in name


@worker_init.connect
def _trace_worker(sender: Any = None, **kwargs: Any) -> None:
    """Start tracing in a solo or thread-pool worker (a prefork pool's processes do it below)."""
    if not _pool_is_prefork(sender):
        from config.telemetry import telemetry_setup

        telemetry_setup(service="depot-worker")


@worker_process_init.connect
def _trace_pool_process(**kwargs: Any) -> None:
    """Start tracing in each prefork pool process, after the fork (the exporter runs a thread)."""
    from config.telemetry import telemetry_setup

    telemetry_setup(service="depot-worker")


@worker_process_shutdown.connect
def _flush_pool_process(**kwargs: Any) -> None:
    """Send the spans a pool process still holds before it exits (billiard skips atexit)."""
    from config.telemetry import telemetry_flush

    telemetry_flush()


@before_task_publish.connect
def _send_request_id(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """Put the current request id in the message's headers."""
    from apps.core.logging import request_id_get

    request_id = request_id_get()
    if headers is not None and request_id and REQUEST_ID_HEADER not in headers:
        headers[REQUEST_ID_HEADER] = request_id


@task_prerun.connect
def _bind_request_id(task: Any = None, **kwargs: Any) -> None:
    """Make the request id the message brought the current one while the task runs."""
    from apps.core.logging import request_id_set

    # An eager task (make run, most tests) runs inside the request and keeps its id.
    if task is not None and not task.request.is_eager:
        request_id_set(getattr(task.request, REQUEST_ID_HEADER, None))


@task_postrun.connect
def _unbind_request_id(task: Any = None, **kwargs: Any) -> None:
    from apps.core.logging import request_id_set

    if task is not None and not task.request.is_eager:
        request_id_set(None)
