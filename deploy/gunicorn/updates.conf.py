"""gunicorn for the updates role: many tiny, fast requests from customers' WordPress sites."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import *  # noqa: F403

raw_env = [
    "DJANGO_SETTINGS_MODULE=" + os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.updates")
]
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8001")
# An update check answers in milliseconds; anything slower is stuck and is cut short.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "15"))
# Keep connections from the proxy open between checks.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "30"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
