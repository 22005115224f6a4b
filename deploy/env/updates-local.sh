# Sourced by `make run-updates`: the updates role on this machine, next to `make run`'s
# demo database. Any variable already set in the environment wins.
: "${DJANGO_SECRET_KEY:=local-updates-role-only-not-a-production-secret-0123456789}"
: "${DJANGO_ALLOWED_HOSTS:=127.0.0.1,localhost}"
: "${DJANGO_SECURE_SSL_REDIRECT:=false}"
: "${DATABASE_URL:=sqlite:///db.sqlite3}"
: "${REDIS_URL:=redis://127.0.0.1:6379/0}"
: "${DEPOT_STORAGE:=filesystem}"
: "${AWS_STORAGE_BUCKET_NAME:=unused}"
: "${CELERY_BROKER_URL:=memory://}"
: "${LICENSE_KEY_HMAC_SECRET:=local-only-license-hmac-secret}"
: "${LICENSE_KEY_ENCRYPTION_KEY:=bG9jYWwtb25seS1saWNlbnNlLWVuY3J5cHRpb24tazE=}"
export DJANGO_SECRET_KEY DJANGO_ALLOWED_HOSTS DJANGO_SECURE_SSL_REDIRECT DATABASE_URL REDIS_URL \
  DEPOT_STORAGE AWS_STORAGE_BUCKET_NAME CELERY_BROKER_URL LICENSE_KEY_HMAC_SECRET \
  LICENSE_KEY_ENCRYPTION_KEY
