#!/bin/sh
# Build-time only (deploy/docker/Dockerfile): collect static files under the production
# settings without any real secret or service. production.py requires these variables to be
# set; collectstatic reads none of them and connects to nothing, so placeholders do. They are
# passed to this one command (`env`), never baked into the image's environment.
# DJANGO_STATIC_ROOT (the image sets /app/staticfiles) says where the files go.
set -eu
cd "$(dirname "$0")/../.."

exec env \
  DJANGO_SETTINGS_MODULE=config.settings.production \
  DJANGO_SECRET_KEY=build-time-collectstatic-only-not-a-secret \
  DJANGO_ALLOWED_HOSTS=localhost \
  DATABASE_URL=sqlite:////tmp/collectstatic-unused.sqlite3 \
  DATABASE_REPLICA_URL= \
  REDIS_URL=redis://127.0.0.1:6379/0 \
  CELERY_BROKER_URL=memory:// \
  DEPOT_STORAGE=filesystem \
  LICENSE_KEY_HMAC_SECRET=build-time-only \
  LICENSE_KEY_ENCRYPTION_KEY=YnVpbGQtdGltZS1vbmx5LW5vdC1hLXJlYWwta2V5ISE= \
  python manage.py collectstatic --no-input --verbosity 0
