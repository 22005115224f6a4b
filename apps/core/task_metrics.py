"""Celery task results, retries and run times, counted in the worker that runs the task.

Tasks run in the workers, which the web role's /metrics never sees, so a worker exports its
own: with `DEPOT_WORKER_METRICS_PORT` set, the worker's main process serves Prometheus' text
format on that port (prometheus_client's `start_http_server`, a daemon thread) from
`worker_init`, before the pool starts. A prefork pool runs tasks in forked children, each
with counters of its own; with `PROMETHEUS_MULTIPROC_DIR` set (before the worker starts: the
image's entrypoint does it) every child writes its figures to a file there and the main
process sums them at scrape time, dead children included, so a recycled child's counts are
kept. The threads and solo pools run tasks in the main process and need no directory, but
work with one too. Without the directory a prefork worker exports only its main process,
where no task runs: it says so in its log at start.

The counters come from Celery's signals (`task_success`, `task_failure`, `task_retry`,
`task_prerun`/`task_postrun`), connected in every process by `CoreConfig.ready()`; only a
worker ever sends them.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from celery.signals import (
    task_failure,
    task_postrun,
    task_prerun,
    task_retry,
    task_success,
    worker_init,
    worker_shutdown,
)
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.exposition import start_http_server

logger = logging.getLogger(__name__)

results = Counter(
    "depot_task_results_total",
    "Celery tasks finished, by task and result (success, failure; a retry is not a result).",
    ["task", "result"],
)
retries = Counter("depot_task_retries_total", "Celery task retries scheduled, by task.", ["task"])
duration = Histogram(
    "depot_task_duration_seconds",
    "Run time of a Celery task in the worker (queue wait excluded), by task.",
    ["task"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)

_started: dict[str, float] = {}
_started_lock = threading.Lock()
_server: list[Any] = []


def _name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or sender or "unknown")


@task_success.connect
def _on_success(sender: Any = None, **kwargs: Any) -> None:
    results.labels(_name(sender), "success").inc()


@task_failure.connect
def _on_failure(sender: Any = None, **kwargs: Any) -> None:
    results.labels(_name(sender), "failure").inc()


@task_retry.connect
def _on_retry(sender: Any = None, **kwargs: Any) -> None:
    retries.labels(_name(sender)).inc()


@task_prerun.connect
def _on_prerun(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        with _started_lock:
            _started[task_id] = time.monotonic()


@task_postrun.connect
def _on_postrun(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    with _started_lock:
        began = _started.pop(task_id or "", None)
    if began is not None:
        duration.labels(_name(task)).observe(time.monotonic() - began)


def _directory_tidy(directory: str) -> None:
    """Drop files an earlier run of this worker left: their counts would be summed again."""
    mine = os.getpid()
    for path in Path(directory).glob("*.db"):
        if path.stem.rsplit("_", 1)[-1] != str(mine):
            path.unlink(missing_ok=True)


@worker_init.connect
def _exporter_start(sender: Any = None, **kwargs: Any) -> None:
    """Serve this worker's task metrics on DEPOT_WORKER_METRICS_PORT, if it is set."""
    from django.conf import settings

    port = int(settings.DEPOT_WORKER_METRICS_PORT or 0)
    if not port:
        return
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        _directory_tidy(directory)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
        pool = getattr(sender, "pool_cls", None)
        if "prefork" in str(getattr(pool, "__module__", pool) or "prefork"):
            logger.warning(
                "task metrics: PROMETHEUS_MULTIPROC_DIR is not set, so the prefork pool's "
                "children (where tasks run) are not counted on port %s",
                port,
            )
    server, _thread = start_http_server(port, addr="0.0.0.0", registry=registry)  # noqa: S104
    _server.append(server)
    logger.info("task metrics: serving on port %s", port)


@worker_shutdown.connect
def _exporter_stop(**kwargs: Any) -> None:
    while _server:
        _server.pop().shutdown()
