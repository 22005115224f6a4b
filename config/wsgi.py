"""WSGI entry point for the web and updates processes (settings chosen by the environment)."""

import os

from django.core.wsgi import get_wsgi_application

from config.telemetry import telemetry_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# Each gunicorn or granian worker imports this after the fork (neither preloads the app), so
# the span processor's thread starts in the process that serves. Before the application: the
# Django instrumentation adds its middleware to the settings the handler then loads.
_ROLE = "updates" if os.environ["DJANGO_SETTINGS_MODULE"].endswith(".updates") else "web"
_TRACING = telemetry_setup(service=f"depot-{_ROLE}")

application = get_wsgi_application()

if _ROLE == "updates" and not _TRACING:
    from django.conf import settings

    if settings.DEPOT_UPDATES_LEAN:
        from apps.updates.api.lean import LeanApplication

        # The hot update endpoints past the middleware stack (see apps.updates.api.lean).
        application = LeanApplication(application)  # type: ignore[assignment]
