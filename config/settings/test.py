"""Test settings: the real services when this host has them, else the embedded default.

`tests.backends.choose_backend()` decides; the root conftest prints which was used. The
S3 endpoint (moto in server mode) and the Celery worker are started by session fixtures,
which hand their addresses to worker processes through DEPOT_TEST_* variables read here.
"""

import os

from tests.backends import choose_backend

from .base import *  # noqa: F403
from .base import BASE_DIR, database_from_url, env, redis_cache, s3_storage

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production-0123456789abcdefghijklmnop"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A test that needs real SMTP (a worker process, the slow-server test) sets these.
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="127.0.0.1")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_TIMEOUT = 10
LICENSE_KEY_HMAC_SECRET = "test-license-hmac-secret"
LICENSE_KEY_ENCRYPTION_KEY = "dGVzdC1vbmx5LWxpY2Vuc2UtZW5jcnlwdGlvbi1rZXk="
DEPOT_SIGNING_KEY = "dGVzdC1vbmx5LXBhY2thZ2Utc2lnbmluZy1rZXkhISE="
DEPOT_ACCOUNT_URL = "https://shop.example.com/account/"
# The test client's login() calls authenticate() without a request, which axes refuses, and
# the throttles' counts in Redis outlive a test (the database is flushed once a run): the
# sign-in throttle tests turn both on. The admin asks no TOTP code here (the browser tests
# sign in with a password); the 2FA tests turn it on.
AXES_ENABLED = False
RATELIMIT_ENABLE = False
DEPOT_ADMIN_REQUIRE_2FA = False

DEPOT_TEST_BACKEND, DEPOT_TEST_BACKEND_PROBLEMS = choose_backend()
_run_tag = str(os.getpid())

# Tasks run in-process unless a test starts the real worker (the `celery_worker` fixture).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_DEFAULT_QUEUE", default=f"depot-test-{_run_tag}")
# Mail's queue follows the run's (tests.conftest's workers consume both).
DEPOT_MAIL_QUEUE = f"{CELERY_TASK_DEFAULT_QUEUE}-mail"
CELERY_TASK_ROUTES = {"apps.notifications.tasks.*": {"queue": DEPOT_MAIL_QUEUE}}

MEDIA_ROOT = BASE_DIR / ".test-media" / _run_tag

if DEPOT_TEST_BACKEND == "real":
    _host = env("DEPOT_SERVICES_HOST", default="127.0.0.1")
    DATABASES = {
        "default": database_from_url(
            env("DEPOT_TEST_DATABASE_URL", default=f"mysql://root:@{_host}:3306/depot")
        )
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A worker process joins the database pytest-django created (test_depot).
    if env("DEPOT_TEST_DB_NAME", default=""):
        DATABASES["default"]["NAME"] = env("DEPOT_TEST_DB_NAME")
    # A Redis database number of its own, flushed at the start of each run.
    CACHES = {
        "default": redis_cache(env("DEPOT_TEST_REDIS_URL", default=f"redis://{_host}:6379/13"))
    }
    SESSION_ENGINE = "apps.core.sessions"
    CELERY_BROKER_URL = env("DEPOT_TEST_BROKER_URL", default=f"amqp://guest:guest@{_host}:5672//")
    if env("DEPOT_TEST_S3_ENDPOINT", default=""):
        STORAGES = {
            "default": s3_storage(
                bucket=env("DEPOT_TEST_S3_BUCKET"),
                endpoint_url=env("DEPOT_TEST_S3_ENDPOINT"),
                region="us-east-1",
            ),
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }
else:
    DATABASES = {"default": database_from_url(f"sqlite:///{BASE_DIR / '.test-db.sqlite3'}")}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
