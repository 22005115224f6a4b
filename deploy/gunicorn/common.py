"""Settings both gunicorn roles share; each role's file imports and adjusts them."""

import multiprocessing
import os
import sys

from gunicorn.glogging import Logger

# The repository root, for apps.core.logging (gunicorn puts only its own directory on the path
# before it reads this file).
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from apps.core.logging import RedactSecrets

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Recycle workers now and then so a slow leak never becomes an outage; jitter keeps
# them from restarting all at once.
# Recycling guards against slow leaks; at 5,000 requests bench/updates saw a web worker
# reboot every ~2 s under load (p99 ~500 ms), so recycle rarely and not all at once.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "5000"))
graceful_timeout = 30
accesslog: str | None = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")


class RedactingLogger(Logger):
    """gunicorn's logger with license keys, download and reset tokens and ?key= redacted.

    The filter sits on every handler of the access and error logs, so the request line, the
    Referer (a page under /orders/…?key= is the Referer of what it loads) and any custom
    GUNICORN access-log format are covered alike.
    """

    def setup(self, cfg: object) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                if not any(isinstance(f, RedactSecrets) for f in handler.filters):
                    handler.addFilter(RedactSecrets())


logger_class = RedactingLogger


# With several workers each keeps its own Prometheus counters; PROMETHEUS_MULTIPROC_DIR makes
# /metrics sum them. The directory is emptied at start and a dead worker's gauges dropped.
def on_starting(server: object) -> None:
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for name in os.listdir(directory):
            os.remove(os.path.join(directory, name))


def child_exit(server: object, worker: object) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
