"""How the updates role narrows a full settings module (shared by updates.py and the tests)."""

from typing import Any

UPDATES_URLCONF = "config.urls_updates"

# Apps the updates role does without: no admin, no sessions, no messages. auth and
# contenttypes stay because licenses point at customers.
UPDATES_DROPPED_APPS = frozenset(
    {
        "apps.core.admin_app.DepotAdminConfig",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
        # Sign-in lock-out and the staff second factor: no sign-in on this role.
        "axes",
        "django_otp",
        "django_otp.plugins.otp_totp",
        # The customer's pages and the demo seeder belong to the web role.
        "apps.account",
        "apps.demo",
        # The admin's reports (the router in DATABASE_ROUTERS stays: its flag is never set here).
        "apps.reports",
        # Backups run as commands of the web role's image (the CronJob); the backup-age gauge
        # is the web role's.
        "apps.backups",
    }
)

UPDATES_DROPPED_MIDDLEWARE = frozenset(
    {
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        # No static files here (staticfiles is dropped above).
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        # No sign-in here: nothing for the lock-out or the staff second factor to guard.
        "django_otp.middleware.OTPMiddleware",
        "axes.middleware.AxesMiddleware",
        # JSON and zips only: no HTML page to protect, no page that shows a key.
        "csp.middleware.CSPMiddleware",
        "apps.core.middleware.NoStoreKeyPagesMiddleware",
    }
)


def updates_apps(installed_apps: list[str]) -> list[str]:
    """Return the installed apps of the updates role."""
    return [app for app in installed_apps if app not in UPDATES_DROPPED_APPS]


def updates_middleware(middleware: list[str]) -> list[str]:
    """Return the middleware of the updates role: no session, auth, messages or CSRF."""
    return [name for name in middleware if name not in UPDATES_DROPPED_MIDDLEWARE]


def updates_role(full: dict[str, Any]) -> dict[str, Any]:
    """Return what the updates role changes in a full settings module's namespace.

    config/settings/updates.py applies it to production; tests/roles/updates.py to the test
    settings, for the servers tests start as the updates role.
    """
    return {
        "ROOT_URLCONF": UPDATES_URLCONF,
        "INSTALLED_APPS": updates_apps(full["INSTALLED_APPS"]),
        "MIDDLEWARE": updates_middleware(full["MIDDLEWARE"]),
        "TEMPLATES": [
            {
                **full["TEMPLATES"][0],
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        # The updates host neither sends nor runs tasks, so it has no broker to report. It
        # answers update checks from the database, or without it from a warm update cache (see
        # apps.updates.delivery.readiness); S3 only serves downloads, so its outage is
        # reported, not fatal.
        "DEPOT_HEALTH_CHECKS": {
            "database": "apps.core.health.check_database",
            "update_cache": "apps.updates.delivery.readiness.update_cache_check",
            "cache": "apps.core.health.check_cache",
            "storage": "apps.core.health.check_storage",
        },
        "DEPOT_READYZ_REQUIRE": [["database", "update_cache"]],
        # No CSRF middleware on purpose: nothing here is authenticated by a cookie. Update and
        # license calls carry their license key, so a forged cross-site request gains nothing.
        "SILENCED_SYSTEM_CHECKS": ["security.W003"],
        # Nothing signs in on this role; without axes installed its backend must not be named.
        "AUTHENTICATION_BACKENDS": ["django.contrib.auth.backends.ModelBackend"],
    }
