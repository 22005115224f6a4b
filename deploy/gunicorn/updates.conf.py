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
# Sync workers, one per core. A warm check is CPU-bound (no SQL, one Redis round trip), so
# workers beyond the cores only add switching; and gthread's keep-alive handling lets one
# worker take every connection of a client that opens them at once and keeps them (a proxy's
# upstream pool, wrk): bench/updates then saw one worker at 100% and the other idle, at half
# the throughput (/healthz 4,665 -> 1,609 req/s), in about one run out of three. Sync workers
# stay balanced and give the same figures with and without keep-alive; the proxy in front
# (nginx) buffers slow clients. bench/updates, 2 cores shared with wrk, licensed PUC check,
# 64 connections, keep-alive | Connection: close, server CPU per request:
#   sync x 2 (these defaults)       1,898 req/s p99 53 ms |  1,910 p99  45 ms   835 µs
#   sync x 4                        1,612        p99 55   |  1,594 p99  59       1,081 µs
#   gthread 2 x 4 threads           2,043        p99 51   |  1,205 p99 157         863 µs
#   gthread 5 x 4 (2 x cores + 1)   1,594        p99 87   |  1,306 p99 169       1,150 µs
#   granian 2 x 1 (deploy/granian)  2,578        p99 46   |  1,998 p99  91         657 µs
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count()))
# One thread: gunicorn turns "sync" with threads > 1 (common.py's 4) into gthread.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# An empty GUNICORN_ACCESS_LOG turns the access log off (the proxy in front logs requests
# anyway); writing it costs about 5-10% more server CPU per check in the bench.
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
# An update check answers in milliseconds; anything slower is stuck and is cut short.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "15"))
# Keep connections from the proxy open between checks (gthread; sync closes after each).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "30"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
# A jitter of 10%: with common.py's 500, workers serving the same load hit 50,000 within half a
# second of each other and reboot together (a sync worker's boot stalls its requests; the web
# role's 5,000 +- 500 rebooted a worker every ~2 s in the bench and its p99 rose to ~500 ms).
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10))
