"""gunicorn for the updates role: many tiny, fast requests from customers' WordPress sites."""

import multiprocessing
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import *  # noqa: F403

raw_env = [
    "DJANGO_SETTINGS_MODULE=" + os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.updates")
]
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8001")
# One gthread worker per core, 4 threads each. A warm check is CPU-bound (no SQL, one Redis
# round trip), so workers beyond the cores only add switching: bench/updates on 2 cores,
# licensed PUC check at 64 keep-alive connections, server CPU per request in brackets:
#   gthread 2 workers x 4 threads  2,434 req/s, p99  52 ms (727 µs)   <- these defaults
#   gthread 5 workers x 4 (2 x cores + 1, the shared default)
#                                  2,233 req/s, p99  82 ms (803 µs); Connection: close p99 265 ms
#   gthread 2 x 8                  2,076 req/s, p99  88 ms (849 µs)
#   sync 2 / sync 4                1,8xx-2,0xx / 1,2xx req/s (see bench/updates/README.md)
# granian (deploy/granian/updates.sh) did 2,951 req/s, p99 41 ms (575 µs) on the same run.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# An empty GUNICORN_ACCESS_LOG turns the access log off (the proxy in front logs requests
# anyway); writing it costs about 5-10% more server CPU per check in the bench.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# An update check answers in milliseconds; anything slower is stuck and is cut short.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "15"))
# Keep connections from the proxy open between checks.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "30"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
