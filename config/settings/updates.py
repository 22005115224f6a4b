"""The updates role: production narrowed to /updates/, health and metrics."""

from .production import *  # noqa: F403
from .production import INSTALLED_APPS, MIDDLEWARE, TEMPLATES
from .roles import UPDATES_URLCONF, updates_apps, updates_middleware

ROOT_URLCONF = UPDATES_URLCONF
INSTALLED_APPS = updates_apps(INSTALLED_APPS)
MIDDLEWARE = updates_middleware(MIDDLEWARE)
TEMPLATES = [
    {
        **TEMPLATES[0],
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]

# The updates host neither sends nor runs tasks, so it has no broker to report. It answers
# update checks from the database, or without it from a warm update cache (see
# apps.updates.delivery.readiness); S3 only serves downloads, so its outage is reported, not fatal.
DEPOT_HEALTH_CHECKS = {
    "database": "apps.core.health.check_database",
    "update_cache": "apps.updates.delivery.readiness.update_cache_check",
    "cache": "apps.core.health.check_cache",
    "storage": "apps.core.health.check_storage",
}
DEPOT_READYZ_REQUIRE = [["database", "update_cache"]]

# No CSRF middleware on purpose: nothing here is authenticated by a cookie. Update and
# license calls carry their license key, so a forged cross-site request gains nothing.
SILENCED_SYSTEM_CHECKS = ["security.W003"]

# Nothing signs in on this role; without axes installed its backend must not be named either.
AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
