"""The embedded default: SQLite, files on disk, local-memory cache, tasks run in-process."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-only-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

# Tasks enqueued after commit run in this process, so `make run` needs no broker.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_BROKER_URL = "memory://"

LICENSE_KEY_HMAC_SECRET = env("LICENSE_KEY_HMAC_SECRET", default="local-only-license-hmac-secret")
# A development-only package signing key; production reads DEPOT_SIGNING_KEY from the vault.
DEPOT_SIGNING_KEY = env("DEPOT_SIGNING_KEY", default="bG9jYWwtb25seS1wYWNrYWdlLXNpZ25pbmcta2V5ISE=")
LICENSE_KEY_ENCRYPTION_KEY = env(
    "LICENSE_KEY_ENCRYPTION_KEY", default="bG9jYWwtb25seS1saWNlbnNlLWVuY3J5cHRpb24tazE="
)
