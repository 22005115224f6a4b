#!/bin/sh
# The image's entrypoint: the first argument names the role, the rest goes to its server.
#
#   web               gunicorn, deploy/gunicorn/web.conf.py (config.settings.production)
#   updates           granian, deploy/granian/updates.sh (config.settings.updates)
#   updates-gunicorn  gunicorn, deploy/gunicorn/updates.conf.py: the alternative server
#   worker-pipeline   Celery worker (prefork) on DEPOT_PIPELINE_QUEUES
#   worker-mail       Celery worker (threads: mail waits on SMTP) on DEPOT_MAIL_QUEUES
#   beat              the Celery beat scheduler (exactly one per deployment)
#   migrate           manage.py migrate, then exit (a one-shot job before the others start)
#   manage.py ARGS    any management command (`manage.py createsuperuser`, `manage.py check`)
#   anything else     run as given (`sh`, `python -c ...`)
#
# Mail tasks (receipts, refund notices, renewal reminders, password links) are routed to the
# settings' DEPOT_MAIL_QUEUE ("mail", CELERY_TASK_ROUTES); everything else goes to
# CELERY_DEFAULT_QUEUE ("depot"). The pipeline worker consumes the second, the mail worker the
# first; one worker may consume both (`--queues depot,mail`, as `make worker` does).
set -eu
cd "$(dirname "$0")/../.."

role="${1:-web}"
[ "$#" -gt 0 ] && shift

# deploy/docker/healthcheck.py reads the URL it probes from here: HEALTHCHECK runs in a
# process of its own that sees the image's environment, not what this script chose.
health_file="${DEPOT_HEALTH_FILE:-/tmp/depot-health-url}"
: >"$health_file" 2>/dev/null || true

probe() {
  echo "http://127.0.0.1:$1/healthz" >"$health_file" 2>/dev/null || true
}

# Port of a gunicorn bind such as 0.0.0.0:8000 (unix sockets are not probed).
bind_port() {
  case "$1" in
    unix:*) echo "" ;;
    *) echo "${1##*:}" ;;
  esac
}

# Each gunicorn or granian worker (or Celery pool child) keeps its own counters; this
# directory lets /metrics (or the worker's exporter) sum them.
multiproc() {
  : "${PROMETHEUS_MULTIPROC_DIR:=/tmp/prometheus-$1}"
  export PROMETHEUS_MULTIPROC_DIR
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
}

default_queue="${CELERY_DEFAULT_QUEUE:-depot}"

case "$role" in
  web)
    : "${DJANGO_SETTINGS_MODULE:=config.settings.production}"
    : "${GUNICORN_BIND:=0.0.0.0:8000}"
    export DJANGO_SETTINGS_MODULE GUNICORN_BIND
    multiproc web
    port="$(bind_port "$GUNICORN_BIND")"
    [ -n "$port" ] && probe "$port"
    exec gunicorn config.wsgi -c deploy/gunicorn/web.conf.py "$@"
    ;;
  updates)
    : "${DJANGO_SETTINGS_MODULE:=config.settings.updates}"
    : "${GRANIAN_PORT:=8001}"
    export DJANGO_SETTINGS_MODULE GRANIAN_PORT
    multiproc updates
    probe "$GRANIAN_PORT"
    exec deploy/granian/updates.sh "$@"
    ;;
  updates-gunicorn)
    : "${DJANGO_SETTINGS_MODULE:=config.settings.updates}"
    : "${GUNICORN_BIND:=0.0.0.0:8001}"
    export DJANGO_SETTINGS_MODULE GUNICORN_BIND
    multiproc updates
    port="$(bind_port "$GUNICORN_BIND")"
    [ -n "$port" ] && probe "$port"
    exec gunicorn config.wsgi -c deploy/gunicorn/updates.conf.py "$@"
    ;;
  worker-pipeline)
    : "${DJANGO_SETTINGS_MODULE:=config.settings.production}"
    export DJANGO_SETTINGS_MODULE
    # Task metrics on DEPOT_WORKER_METRICS_PORT, summed over the pool (apps.core.task_metrics).
    multiproc worker-pipeline
    # Prefork: fulfilment is CPU and database work (keys, licenses, statistics roll-ups).
    exec celery -A config worker \
      --queues "${DEPOT_PIPELINE_QUEUES:-$default_queue}" \
      --hostname "pipeline@%h" \
      --pool prefork \
      --concurrency "${DEPOT_PIPELINE_CONCURRENCY:-$(nproc)}" \
      --loglevel "${CELERY_LOG_LEVEL:-info}" \
      "$@"
    ;;
  worker-mail)
    : "${DJANGO_SETTINGS_MODULE:=config.settings.production}"
    export DJANGO_SETTINGS_MODULE
    # Task metrics on DEPOT_WORKER_METRICS_PORT, summed over the pool (apps.core.task_metrics).
    multiproc worker-mail
    # Threads: a receipt spends its time waiting on the SMTP server, not on the CPU
    # (README, "Processes and settings").
    exec celery -A config worker \
      --queues "${DEPOT_MAIL_QUEUES:-${DEPOT_MAIL_QUEUE:-mail}}" \
      --hostname "mail@%h" \
      --pool threads \
      --concurrency "${DEPOT_MAIL_CONCURRENCY:-16}" \
      --loglevel "${CELERY_LOG_LEVEL:-info}" \
      "$@"
    ;;
  beat)
    : "${DJANGO_SETTINGS_MODULE:=config.settings.production}"
    export DJANGO_SETTINGS_MODULE
    # The schedule file goes to /tmp: the application directory is read-only for this user.
    exec celery -A config beat \
      --schedule "${CELERY_BEAT_SCHEDULE_FILE:-/tmp/celerybeat-schedule}" \
      --loglevel "${CELERY_LOG_LEVEL:-info}" \
      "$@"
    ;;
  migrate)
    : "${DJANGO_SETTINGS_MODULE:=config.settings.production}"
    export DJANGO_SETTINGS_MODULE
    exec python manage.py migrate --no-input "$@"
    ;;
  manage.py | manage)
    : "${DJANGO_SETTINGS_MODULE:=config.settings.production}"
    export DJANGO_SETTINGS_MODULE
    exec python manage.py "$@"
    ;;
  *)
    exec "$role" "$@"
    ;;
esac
