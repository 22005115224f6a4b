"""How the updates role narrows a full settings module (shared by updates.py and the tests)."""

UPDATES_URLCONF = "config.urls_updates"

# Apps the updates role does without: no admin, no sessions, no messages. auth and
# contenttypes stay because licenses point at customers.
UPDATES_DROPPED_APPS = frozenset(
    {
        "django.contrib.admin",
        "django.contrib.sessions",
        "django.contrib.messages",
        "django.contrib.staticfiles",
    }
)

UPDATES_DROPPED_MIDDLEWARE = frozenset(
    {
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    }
)


def updates_apps(installed_apps: list[str]) -> list[str]:
    """Return the installed apps of the updates role."""
    return [app for app in installed_apps if app not in UPDATES_DROPPED_APPS]


def updates_middleware(middleware: list[str]) -> list[str]:
    """Return the middleware of the updates role: no session, auth, messages or CSRF."""
    return [name for name in middleware if name not in UPDATES_DROPPED_MIDDLEWARE]
