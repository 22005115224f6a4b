"""Production: MariaDB, Redis, S3, Celery on RabbitMQ; every host value from the environment."""

from .base import *  # noqa: F403
from .base import LOGGING, MIDDLEWARE, database_from_url, env, redis_cache, s3_storage

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")

DATABASES = {"default": database_from_url(env("DATABASE_URL"))}
# Reports may read from a replica; absent, they read from the primary.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = database_from_url(env("DATABASE_REPLICA_URL"))

CACHES = {"default": redis_cache(env("REDIS_URL"))}
# cached_db: Redis answers reads, the database keeps the truth, so a Redis outage
# logs nobody out; apps.core.sessions also keeps sign-in and the cart working through one.
SESSION_ENGINE = "apps.core.sessions"

# Plugin zips and media on S3 (any S3-compatible endpoint); DEPOT_STORAGE=filesystem keeps
# them under DJANGO_MEDIA_ROOT for a single-host install.
STORAGES = {
    "default": (
        {"BACKEND": "django.core.files.storage.FileSystemStorage"}
        if env("DEPOT_STORAGE", default="s3") == "filesystem"
        else s3_storage(
            bucket=env("AWS_STORAGE_BUCKET_NAME"),
            endpoint_url=env("AWS_S3_ENDPOINT_URL", default=None),
            region=env("AWS_S3_REGION_NAME", default=None),
        )
    ),
    # Hashed names (a changed file gets a new URL, so it may be cached for a year) and a .gz
    # beside each text file, written once at collectstatic: WhiteNoise and nginx's gzip_static
    # serve them without compressing per request.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Static files from the app itself (WhiteNoise), so a one-host install needs no web server for
# the admin's CSS; in front of it nginx serves them from disk (deploy/nginx) and this never
# runs. Right after SecurityMiddleware: before sessions, CSRF and the database, which a static
# file needs none of. The updates role drops it with the static files (roles.py).
_SECURITY = MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1
MIDDLEWARE = [
    *MIDDLEWARE[:_SECURITY],
    "whitenoise.middleware.WhiteNoiseMiddleware",
    *MIDDLEWARE[_SECURITY:],
]

CELERY_BROKER_URL = env("CELERY_BROKER_URL")
CELERY_TASK_ALWAYS_EAGER = False

EMAIL_BACKEND = env("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# The admin takes a password and a TOTP code; `manage.py staff_totp_enrol USERNAME` gives the
# first admin (and each staff user after) the authenticator entry it asks for.
DEPOT_ADMIN_REQUIRE_2FA = env.bool("DEPOT_ADMIN_REQUIRE_2FA", default=True)

LICENSE_KEY_HMAC_SECRET = env("LICENSE_KEY_HMAC_SECRET")
LICENSE_KEY_ENCRYPTION_KEY = env("LICENSE_KEY_ENCRYPTION_KEY")

# TLS ends at the proxy in front (nginx, a load balancer); it says so in this header.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
# /metrics only for the scraper: without DEPOT_METRICS_TOKEN it answers 404 (see base.py).
DEPOT_METRICS_REQUIRE_TOKEN = True
# Probes and scrapers talk plain HTTP from inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^readyz/detail$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"

# base.py's logging (the redact and context filters on every handler), one JSON object per
# line unless DEPOT_LOG_FORMAT=plain.
DEPOT_LOG_FORMAT = env("DEPOT_LOG_FORMAT", default="json")
LOGGING = {
    **LOGGING,
    "handlers": {
        "console": {**LOGGING["handlers"]["console"], "formatter": DEPOT_LOG_FORMAT},
    },
}
