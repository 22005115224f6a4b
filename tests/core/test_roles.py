"""The updates role: a narrow URLconf and middleware, and clean production settings."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from django.urls import URLPattern, URLResolver, get_resolver

from config.settings import roles

ROOT = Path(__file__).resolve().parents[2]
# "" is the updates host's root: EDD's updater posts edd_action there.
ALLOWED_OUTSIDE_UPDATES = {"", "healthz", "readyz", "readyz/detail", "metrics"}

PRODUCTION_ENV = {
    "DJANGO_SECRET_KEY": "k9#Vq2!mZ7@xR4$wL8^pN3&tB6*yH1(cF5)jD0_gS-eA+uK=oI",
    "DJANGO_ALLOWED_HOSTS": "shop.example.com,updates.example.com,testserver",
    # Production names MySQL; a machine without mysqlclient (make test falls back to the
    # embedded default there) checks the same settings on SQLite instead.
    "DATABASE_URL": (
        "mysql://depot:s3cret@db.internal:3306/depot"
        if importlib.util.find_spec("MySQLdb")
        else "sqlite:////tmp/depot-roles-check.sqlite3"
    ),
    "REDIS_URL": "redis://cache.internal:6379/0",
    "AWS_STORAGE_BUCKET_NAME": "depot-releases",
    "AWS_S3_ENDPOINT_URL": "https://s3.eu-central-1.amazonaws.com",
    "AWS_S3_REGION_NAME": "eu-central-1",
    "CELERY_BROKER_URL": "amqp://depot:s3cret@mq.internal:5672/depot",
    "LICENSE_KEY_HMAC_SECRET": "a-long-random-hmac-secret-from-the-vault",
    "LICENSE_KEY_ENCRYPTION_KEY": "dGVzdC1vbmx5LWxpY2Vuc2UtZW5jcnlwdGlvbi1rZXk=",
}


def _routes(patterns, prefix: str = "") -> list[str]:
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            found.append(route)
    return found


def _run(settings_module: str, code: str, extra_env: dict[str, str] | None = None):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "REDIS_", "CELERY_", "AWS_"))
    }
    env.update(PRODUCTION_ENV, DJANGO_SETTINGS_MODULE=settings_module, **(extra_env or {}))
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_updates_urlconf_exposes_only_updates_health_and_metrics():
    routes = _routes(get_resolver("config.urls_updates").url_patterns)

    assert routes, "the walk found no routes"
    outside = [r for r in routes if not r.startswith("updates/")]
    assert set(outside) == ALLOWED_OUTSIDE_UPDATES
    assert not any(r.startswith("admin") for r in routes)


def test_the_web_urlconf_also_serves_the_update_api():
    web = set(_routes(get_resolver("config.urls").url_patterns))
    updates = set(_routes(get_resolver("config.urls_updates").url_patterns))

    assert updates <= web
    assert any(r.startswith("admin/") for r in web)


def test_a_request_through_the_updates_settings_passes_no_session_auth_or_csrf():
    # The real updates settings module, loaded with production-like environment values.
    code = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client
response = Client().get("/updates/", secure=True, HTTP_HOST="updates.example.com")
request = response.wsgi_request
print(json.dumps({
    "status": response.status_code,
    "urlconf": settings.ROOT_URLCONF,
    "middleware": settings.MIDDLEWARE,
    "apps": settings.INSTALLED_APPS,
    "has_session": hasattr(request, "session"),
    "has_user": hasattr(request, "user"),
    "csrf_processed": hasattr(request, "csrf_processing_done") or "CSRF_COOKIE" in request.META,
    "set_cookies": list(response.cookies),
    "vary": response.get("Vary", ""),
}))
"""
    result = _run("config.settings.updates", code)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])

    assert seen["status"] == 200
    assert seen["urlconf"] == "config.urls_updates"
    assert not set(seen["middleware"]) & roles.UPDATES_DROPPED_MIDDLEWARE
    assert "django.contrib.admin" not in seen["apps"]
    assert "django.contrib.sessions" not in seen["apps"]
    assert seen["has_session"] is False
    assert seen["has_user"] is False
    assert seen["csrf_processed"] is False
    assert seen["set_cookies"] == []
    assert "Cookie" not in seen["vary"]


def test_the_web_settings_do_process_sessions_for_contrast():
    code = """
import json, django
django.setup()
from django.test import Client
request = Client().get("/healthz", secure=True, HTTP_HOST="shop.example.com").wsgi_request
print(json.dumps({"has_session": hasattr(request, "session"),
                  "has_user": hasattr(request, "user")}))
"""
    result = _run("config.settings.production", code)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "has_session": True,
        "has_user": True,
    }


def test_check_deploy_is_clean_for_the_web_and_updates_settings():
    for module in ("config.settings.production", "config.settings.updates"):
        code = (
            "import sys, django; from django.core.management import call_command; "
            "django.setup(); call_command('check', deploy=True, fail_level='WARNING')"
        )
        result = _run(module, code)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{module}:\n{output}"
        assert "WARNINGS" not in output and "issues" not in output.replace("no issues", ""), output
