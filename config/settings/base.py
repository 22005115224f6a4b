"""Settings shared by every role. Host-specific values come from the environment."""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # django.contrib.admin with DepotAdminSite (staff TOTP) as the default site.
    "apps.core.admin_app.DepotAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    # Sign-in lock-out (failures counted in the database, so it needs no Redis) and TOTP for staff.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "apps.core",
    "apps.licenses",
    "apps.updates",
    "apps.store",
    "apps.notifications",
    # Kept in the updates role too: activations made through the update API publish
    # activation.created, and an event with no subscriber in the publishing process is dropped.
    "apps.webhooks",
    "apps.account",
    "apps.demo",
    # Sales, license and install reports with charts in the admin (web role only).
    "apps.reports",
    "apps.backups",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id (nginx's X-Request-ID or a new one).
    "apps.core.logging.RequestIdMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A lost database answers 503 with Retry-After, not 500 (both roles).
    "apps.core.outage.DatabaseUnavailableMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.core.middleware.NoStoreKeyPagesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, so the 429 it turns a locked-out sign-in into is what the metrics count.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
            ],
        },
    },
]


def database_from_url(url: str, *, instrumented: bool = True) -> dict[str, Any]:
    """Build a DATABASES entry from a URL; MySQL/MariaDB gets utf8mb4, strict mode, pooling."""
    config: dict[str, Any] = env.db_url_config(url)
    if config["ENGINE"] == "django.db.backends.mysql":
        if instrumented:
            config["ENGINE"] = "django_prometheus.db.backends.mysql"
        config["OPTIONS"] = {
            "charset": "utf8mb4",
            # Strict mode turns silent truncation into an error; READ COMMITTED keeps
            # select_for_update() from taking gap locks that serialise unrelated rows.
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'",
            "isolation_level": "read committed",
            "connect_timeout": env.int("DATABASE_CONNECT_TIMEOUT", default=3),
        }
        # Through ProxySQL (deploy/proxysql/README.md) a session SET pins the client to one
        # server connection and defeats the multiplexing: the servers then run this sql_mode
        # and READ COMMITTED as their defaults, and Django sends neither.
        if env.bool("DATABASE_PROXYSQL", default=False):
            del config["OPTIONS"]["init_command"]
            config["OPTIONS"]["isolation_level"] = None
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
        config["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
        config["CONN_HEALTH_CHECKS"] = True
    elif config["ENGINE"] == "django.db.backends.sqlite3" and instrumented:
        config["ENGINE"] = "django_prometheus.db.backends.sqlite3"
    return config


DATABASES = {
    "default": database_from_url(
        env("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
    ),
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The admin's reports read from the `replica` alias when DATABASES has one (production.py adds
# it from DATABASE_REPLICA_URL); every other read and every write stays on `default`.
# apps/reports/router.py says how.
DATABASE_ROUTERS = ["apps.reports.router.ReportReadRouter"]


def redis_cache(url: str) -> dict[str, Any]:
    """Build a django-redis cache entry that fails fast when Redis is unreachable."""
    return {
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": url,
        "KEY_PREFIX": "depot",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": env.float("REDIS_CONNECT_TIMEOUT", default=0.5),
            "SOCKET_TIMEOUT": env.float("REDIS_TIMEOUT", default=0.5),
            # After a connection error or timeout, calls fail at once for
            # DEPOT_CACHE_BREAKER_SECONDS (apps.core.cache), so a hung Redis costs one timeout
            # per process per window instead of one per call.
            "REDIS_CLIENT_CLASS": "apps.core.cache.BreakerRedis",
        },
    }


CACHES: dict[str, Any] = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
# Seconds each process stops calling Redis after a failure before trying it again.
DEPOT_CACHE_BREAKER_SECONDS = env.float("DEPOT_CACHE_BREAKER_SECONDS", default=10.0)


def s3_storage(
    *, bucket: str, endpoint_url: str | None, region: str | None, location: str = ""
) -> dict[str, Any]:
    """Build a django-storages S3 entry for any S3-compatible endpoint."""
    from botocore.config import Config

    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "endpoint_url": endpoint_url,
            "region_name": region,
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "location": location,
            "default_acl": None,
            "file_overwrite": False,
            "querystring_auth": True,
            "querystring_expire": 60,
            "signature_version": "s3v4",
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE", default="auto"),
            # Fail within seconds instead of boto's default minute-long waits, so a
            # storage outage shows up in /readyz rather than as hung workers.
            # django-storages hands client_config to boto as it is, so the signature version
            # must be set here too: SigV4 URLs carry X-Amz-Expires=60, the pre-signed lifetime.
            # Two attempts in all (botocore's max_attempts counts retries, so 2 meant three):
            # a hung endpoint costs 2 x read_timeout, a refused one well under a second.
            "client_config": Config(
                connect_timeout=2,
                read_timeout=5,
                retries={"total_max_attempts": 2, "mode": "standard"},
                signature_version="s3v4",
            ),
        },
    }


MEDIA_ROOT = Path(env("DJANGO_MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATIC_URL = "/static/"

STORAGES: dict[str, Any] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Seconds each process answers downloads 503 without asking storage again after it failed
# to answer (apps.updates.package_storage), so a hung S3 costs one timeout per window.
DEPOT_STORAGE_BREAKER_SECONDS = env.float("DEPOT_STORAGE_BREAKER_SECONDS", default=10.0)
# Seconds a download waits for S3 to say the package is there before it answers 503: one
# attempt, so a hung S3 holds an updates worker (and the checks queued behind it) this long
# once per breaker window, not the storage client's two full attempts (about 10 s).
DEPOT_STORAGE_PROBE_TIMEOUT = env.float("DEPOT_STORAGE_PROBE_TIMEOUT", default=1.0)

# Database backups (apps.backups, `manage.py db_backup` …): to DEPOT_BACKUP_DIR when set (a
# local directory or mounted volume), else to DEPOT_BACKUP_BUCKET (default: the media bucket)
# under DEPOT_BACKUP_PREFIX, on the media bucket's endpoint and region. db_backup keeps the
# newest backup of each of the last DEPOT_BACKUP_KEEP_DAILY days and of each of the last
# DEPOT_BACKUP_KEEP_WEEKLY ISO weeks that have one. DEPOT_BACKUP_DATABASE_URL: dump from there
# (a replica, or the primary directly rather than through ProxySQL); empty: DATABASE_URL.
DEPOT_BACKUP_DIR = env("DEPOT_BACKUP_DIR", default="")
DEPOT_BACKUP_BUCKET = env("DEPOT_BACKUP_BUCKET", default=env("AWS_STORAGE_BUCKET_NAME", default=""))
DEPOT_BACKUP_PREFIX = env("DEPOT_BACKUP_PREFIX", default="backups/")
DEPOT_BACKUP_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL", default="")
DEPOT_BACKUP_S3_REGION = env("AWS_S3_REGION_NAME", default="")
DEPOT_BACKUP_S3_ADDRESSING_STYLE = env("AWS_S3_ADDRESSING_STYLE", default="auto")
DEPOT_BACKUP_KEEP_DAILY = env.int("DEPOT_BACKUP_KEEP_DAILY", default=7)
DEPOT_BACKUP_KEEP_WEEKLY = env.int("DEPOT_BACKUP_KEEP_WEEKLY", default=4)
DEPOT_BACKUP_DATABASE_URL = env("DEPOT_BACKUP_DATABASE_URL", default="")

# axes first: it refuses a locked-out account or address before a password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Content-Security-Policy on every response (django-csp). Scripts and <style> elements run
# only from this origin or with the request's nonce (`{{ request.csp_nonce }}`); style
# attributes stay allowed (they cannot run script). Images may come from any HTTPS host:
# banners are vendor URLs and screenshots pre-signed S3 URLs. Forms post only here, and with
# Stripe the checkout's redirect goes on to Stripe Checkout, which form-action also governs.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:", "https:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF]
        + (
            ["https://checkout.stripe.com"]
            if env("DEPOT_PAYMENT_GATEWAY", default="test") == "stripe"
            else []
        ),
    },
}

LOGIN_URL = "account:login"
LOGIN_REDIRECT_URL = "account:overview"
LOGOUT_REDIRECT_URL = "store:catalogue"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# E-mail: the console (stderr) on the embedded default; production.py uses SMTP from the env.
EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="apps.core.mail.ConsoleBackend")
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="Depot <store@localhost>")

# Celery: tasks are enqueued after commit and acknowledged only once they finish, so a
# worker killed mid-task hands its message back to the broker instead of losing it.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A prefork child whose resident memory passed this many KiB is replaced after its task (Celery's
# worker_max_memory_per_child). A child starts near 90 MB; `make load` saw children grow to
# 130-170 MB in a 60 s Redis outage (every task failing, logging and retrying) and keep it.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("DEPOT_WORKER_MAX_MEMORY_PER_CHILD_KB", default=153600)
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_DEFAULT_QUEUE", default="depot")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
# A request that enqueues while the broker is down gives up within about a second; the
# outbox sweeper sends the message later, so the customer is not kept waiting.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Mail waits on the SMTP server, so it has a queue (and a threaded worker) of its own: a slow
# mail server never holds up licenses, and a burst of reminders never delays a receipt's
# license. `make worker` consumes both queues; the image runs a worker per queue.
DEPOT_MAIL_QUEUE = env("DEPOT_MAIL_QUEUE", default="mail")
CELERY_TASK_ROUTES = {"apps.notifications.tasks.*": {"queue": DEPOT_MAIL_QUEUE}}
# A message the mail server accepted is never sent again: if recording it fails (the database
# restarting), the worker retries just that write, every 2 s for up to 90 s.
DEPOT_MAIL_RECORD_RETRY_SECONDS = 90.0
DEPOT_MAIL_RECORD_RETRY_DELAY = 2.0

# Keys and secrets of the licensing subsystem (see apps/licenses/keys.py).
LICENSE_KEY_HMAC_SECRET = env("LICENSE_KEY_HMAC_SECRET", default="")
LICENSE_KEY_ENCRYPTION_KEY = env("LICENSE_KEY_ENCRYPTION_KEY", default="")

# Ed25519 seed (32 bytes, base64) that signs packages; empty disables the .sig endpoint.
DEPOT_SIGNING_KEY = env("DEPOT_SIGNING_KEY", default="")
# Public address of the update API (https://updates.example.com); empty: the request's host.
DEPOT_UPDATES_BASE_URL = env("DEPOT_UPDATES_BASE_URL", default="")
# The updates role serves its three hot endpoints past Django's middleware stack
# (apps.updates.api.lean); off when tracing is configured, or with this set to false.
DEPOT_UPDATES_LEAN = env.bool("DEPOT_UPDATES_LEAN", default=True)
# Where a customer renews or manages a license; named in refusals ("renew at …").
DEPOT_ACCOUNT_URL = env("DEPOT_ACCOUNT_URL", default="")
DEPOT_DOWNLOAD_TOKEN_HOURS = env.int("DEPOT_DOWNLOAD_TOKEN_HOURS", default=24)
# How many reverse proxies (nginx, a load balancer) append to X-Forwarded-For before Django;
# 0 trusts only the socket's address. Rate limits count per client address.
DEPOT_TRUSTED_PROXIES = env.int("DEPOT_TRUSTED_PROXIES", default=0)
# Requests per minute and IP on the license endpoints (activate, deactivate, check).
DEPOT_LICENSE_RATE_LIMIT = env.int("DEPOT_LICENSE_RATE_LIMIT", default=30)
# Update checks (PUC, EDD get_version, native) per minute and IP, all dialects together.
# Generous: one address may be a host behind NAT running hundreds of sites, each of which
# checks twice a day and whenever an admin opens the Plugins or Updates screen.
DEPOT_UPDATE_RATE_LIMIT = env.int("DEPOT_UPDATE_RATE_LIMIT", default=600)
# Staging and local copies (staging.…, localhost, *.local) a license may add without using a
# site slot; a site's staging copy plus a developer's local one or two. Further copies count
# as sites. 0: every site uses a slot.
DEPOT_FREE_STAGING_SITES = env.int("DEPOT_FREE_STAGING_SITES", default=3)
# Whether a client's `environment` (wp_get_environment_type()) alone makes a site a free
# staging copy, as EDD's "bypass local hosts"; off, only the host name decides.
DEPOT_TRUST_CLIENT_ENVIRONMENT = env.bool("DEPOT_TRUST_CLIENT_ENVIRONMENT", default=False)

# Sign-in lock-out (django-axes, store and admin alike): after DEPOT_SIGNIN_FAILURE_LIMIT failed
# sign-ins for one account, or from one address, within the cool-off, that account or address
# is refused for DEPOT_SIGNIN_COOLOFF_MINUTES after its latest attempt. Counted in the database.
AXES_FAILURE_LIMIT = env.int("DEPOT_SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("DEPOT_SIGNIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_CLIENT_IP_CALLABLE = "apps.core.throttle.client_ip"
AXES_USERNAME_CALLABLE = "apps.core.signin.lockout_username"
AXES_LOCKOUT_CALLABLE = "apps.core.signin.lockout_response"
# Log lock-outs, not a start-up banner in every manage.py command.
AXES_VERBOSE = False
# Masked in the POST data axes keeps of a failed attempt (the password always is).
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "otp_token", "csrfmiddlewaretoken"]
# Per-address throttles (django-ratelimit on the default cache; open when the cache is down):
# password-reset requests per address and per e-mail, refused coupon codes per address.
RATELIMIT_FAIL_OPEN = True
DEPOT_PASSWORD_RESET_RATE_IP = env("DEPOT_PASSWORD_RESET_RATE_IP", default="10/h")
DEPOT_PASSWORD_RESET_RATE_EMAIL = env("DEPOT_PASSWORD_RESET_RATE_EMAIL", default="3/h")
DEPOT_COUPON_FAILURE_RATE = env("DEPOT_COUPON_FAILURE_RATE", default="10/h")
# The admin asks staff for a TOTP code (django-otp) besides the password; production turns it
# on, and `manage.py staff_totp_enrol USERNAME` gives a staff user the device it needs.
DEPOT_ADMIN_REQUIRE_2FA = env.bool("DEPOT_ADMIN_REQUIRE_2FA", default=False)

# /metrics answers only `Authorization: Bearer <DEPOT_METRICS_TOKEN>` when a token is set.
# Without one it is open here (make run, tests) and absent (404) in production.
DEPOT_METRICS_TOKEN = env("DEPOT_METRICS_TOKEN", default="")
DEPOT_METRICS_REQUIRE_TOKEN = False
# Business metrics read from the database at scrape time (orders, revenue, licenses, e-mails:
# apps.*.metrics) are kept this many seconds in the default cache, so many pods scraped every
# 15 s cost one set of queries per window (0: query on every scrape).
DEPOT_METRICS_CACHE_SECONDS = env.int("DEPOT_METRICS_CACHE_SECONDS", default=30)
# A Celery worker serves its task metrics (apps.core.task_metrics) on this port, from its main
# process, summing its pool's children through PROMETHEUS_MULTIPROC_DIR (0: no exporter).
# The web and updates roles ignore it: their /metrics never sees a worker's tasks.
DEPOT_WORKER_METRICS_PORT = env.int("DEPOT_WORKER_METRICS_PORT", default=0)

# Health (apps.core.health): every dependency /readyz/detail reports, by name; and what
# /readyz requires, as groups of names of which any one passing meets the group. The web
# role can take orders without Redis, S3 or the broker (sessions fall back to the database,
# the outbox holds events), but nothing without the database.
DEPOT_HEALTH_CHECKS = {
    "database": "apps.core.health.check_database",
    "cache": "apps.core.health.check_cache",
    "storage": "apps.core.health.check_storage",
    "broker": "apps.core.health.check_broker",
}
DEPOT_READYZ_REQUIRE = [["database"]]

DEPOT_SITE_NAME = env("DEPOT_SITE_NAME", default="Depot")
# The name an authenticator app shows next to a staff user's TOTP codes.
OTP_TOTP_ISSUER = DEPOT_SITE_NAME
DEPOT_CURRENCY = env("DEPOT_CURRENCY", default="USD")
# The store's public address, for links in e-mails sent by the worker (no request there).
DEPOT_STORE_BASE_URL = env("DEPOT_STORE_BASE_URL", default="http://127.0.0.1:8000")
# Percent off the tier's price when a customer renews a license before or after it expires.
DEPOT_RENEWAL_DISCOUNT_PERCENT = env.int("DEPOT_RENEWAL_DISCOUNT_PERCENT", default=30)
# Renewal reminders: the days before a license's expiry (negative: after it) on which beat's
# daily task e-mails its owner, each stage once per license and expiry (apps.licenses.selectors).
DEPOT_RENEWAL_REMINDER_DAYS: list[int] = env.list(
    "DEPOT_RENEWAL_REMINDER_DAYS", cast=int, default=[30, 7, 1, -7]
)
# Days the one-click renewal link of a reminder keeps working (it outlives the last stage).
DEPOT_RENEWAL_LINK_DAYS = env.int("DEPOT_RENEWAL_LINK_DAYS", default=30)
# Payment gateway of the checkout: "test" (card form with documented test numbers) or "stripe".
DEPOT_PAYMENT_GATEWAY = env("DEPOT_PAYMENT_GATEWAY", default="test")
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
STRIPE_API_BASE = env("STRIPE_API_BASE", default="https://api.stripe.com")
# Seconds a webhook's signed timestamp may be old (Stripe's own libraries use 300).
STRIPE_WEBHOOK_TOLERANCE = env.int("STRIPE_WEBHOOK_TOLERANCE", default=300)

# Outgoing webhooks (apps/webhooks, docs/webhooks.md). Deliveries go to public addresses only;
# true also allows loopback, private, link-local and reserved ones (a receiver on the same
# host or network; the tests). Off by default: an endpoint URL must not reach inside.
DEPOT_WEBHOOKS_ALLOW_PRIVATE = env.bool("DEPOT_WEBHOOKS_ALLOW_PRIVATE", default=False)
# Seconds to connect and to wait for each read of the answer.
DEPOT_WEBHOOKS_CONNECT_TIMEOUT = env.float("DEPOT_WEBHOOKS_CONNECT_TIMEOUT", default=3.0)
DEPOT_WEBHOOKS_READ_TIMEOUT = env.float("DEPOT_WEBHOOKS_READ_TIMEOUT", default=10.0)
# Tries per delivery, the wait after the first failure (doubling after each), and its cap:
# 13 tries over about 26 hours with the defaults (1, 2, 4 … 256 minutes, then 6 hours).
DEPOT_WEBHOOKS_MAX_ATTEMPTS = env.int("DEPOT_WEBHOOKS_MAX_ATTEMPTS", default=13)
DEPOT_WEBHOOKS_RETRY_BASE_SECONDS = env.float("DEPOT_WEBHOOKS_RETRY_BASE_SECONDS", default=60.0)
DEPOT_WEBHOOKS_RETRY_MAX_SECONDS = env.float("DEPOT_WEBHOOKS_RETRY_MAX_SECONDS", default=21600.0)
# Waits up to this many seconds are a Celery countdown; longer ones are sent by the beat
# sweeper (a message held for hours outlives RabbitMQ's consumer timeout).
DEPOT_WEBHOOKS_ETA_MAX_SECONDS = env.float("DEPOT_WEBHOOKS_ETA_MAX_SECONDS", default=900.0)
# Failed tries in a row (any events) after which an endpoint is turned off, and who is told
# (empty: the addresses in Django's ADMINS).
DEPOT_WEBHOOKS_DISABLE_AFTER = env.int("DEPOT_WEBHOOKS_DISABLE_AFTER", default=50)
DEPOT_WEBHOOKS_ALERT_EMAIL = env("DEPOT_WEBHOOKS_ALERT_EMAIL", default="")

# Log lines: "json" (one object per line: time, level, logger, message, request_id, trace_id,
# span_id, exception; production's default) or "plain" (text, the default here, for make run
# and the tests). Workers and beat follow it too (config/celery_app.py).
DEPOT_LOG_FORMAT = env("DEPOT_LOG_FORMAT", default="plain")

# Every handler carries the redact filter: license keys, download and reset tokens and the
# confirmation's ?key= never reach a log (gunicorn's logs: deploy/gunicorn/common.py); and the
# context filter, which puts the request id and the trace and span id on each record. The
# `django` and `django.server` loggers lose Django's own handlers, which have no filter, and
# log through the root's.
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "redact": {"()": "apps.core.logging.RedactSecrets"},
        "context": {"()": "apps.core.logging.LogContext"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "apps.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": DEPOT_LOG_FORMAT,
            "filters": ["context", "redact"],
        }
    },
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        # redis-py gives this logger a print-everything handler of its own unless it exists;
        # here it goes through the root's (redacting) handler like every other.
        "push_response": {"handlers": [], "level": "WARNING", "propagate": True},
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}

CELERY_BEAT_SCHEDULE = {
    # Re-sends outbox rows left undelivered (broker down at commit, process killed) once
    # they are DEPOT_OUTBOX_SWEEP_AGE seconds old, every DEPOT_OUTBOX_SWEEP_EVERY seconds.
    "outbox-sweep": {
        "task": "apps.core.tasks.outbox_sweep_task",
        "schedule": env.float("DEPOT_OUTBOX_SWEEP_EVERY", default=15.0),
        "kwargs": {"older_than_seconds": env.int("DEPOT_OUTBOX_SWEEP_AGE", default=30)},
    },
    "install-stats-rollup": {"task": "apps.updates.tasks.install_stats_rollup", "schedule": 600.0},
    "pending-orders-expire": {"task": "apps.store.tasks.pending_orders_expire", "schedule": 3600.0},
    # Webhook deliveries whose next try is due (long backoffs, the broker down at commit).
    "webhook-deliveries-sweep": {
        "task": "apps.webhooks.tasks.webhook_deliveries_sweep_task",
        "schedule": 60.0,
    },
    # Renewal reminders: each due stage published once (a second run finds it recorded).
    "renewal-reminders": {
        "task": "apps.licenses.tasks.renewal_reminders_publish_task",
        "schedule": crontab(hour=env.int("DEPOT_RENEWAL_REMINDER_HOUR", default=9), minute=0),
    },
}
