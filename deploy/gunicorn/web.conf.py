"""gunicorn for the web role: storefront, checkout, admin, webhooks (and /updates/ too)."""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from common import *  # noqa: F403

raw_env = [
    "DJANGO_SETTINGS_MODULE="
    + os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings.production")
]
# Checkout talks to payment gateways; give slow requests room before the worker is killed.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
keepalive = 5
