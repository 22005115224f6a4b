#!/bin/sh
# The updates role under granian's WSGI server, the alternative to
# `gunicorn config.wsgi -c deploy/gunicorn/updates.conf.py` (see bench/updates/README.md for
# when to pick which). Every value comes from the environment, as with gunicorn.
#
# --blocking-threads 1 on purpose: granian retires idle blocking threads after
# --blocking-threads-idle-timeout (30 s), and a retired thread's persistent database
# connection (CONN_MAX_AGE) is never closed. With 4 threads per worker the bench counted
# 4 -> 8 -> 11 -> 17 connections open to MariaDB after four load bursts 35 s apart; with 1
# thread it stayed at one per worker. Raise it only together with DATABASE_CONN_MAX_AGE=0.
set -eu
cd "$(dirname "$0")/../.."

: "${DJANGO_SETTINGS_MODULE:=config.settings.updates}"
export DJANGO_SETTINGS_MODULE

# granian has no gunicorn-style hooks: empty the Prometheus multiprocess directory here, so
# /metrics does not add up counters of an earlier run's workers.
if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
fi

exec granian --interface wsgi config.wsgi:application \
  --host "${GRANIAN_HOST:-0.0.0.0}" \
  --port "${GRANIAN_PORT:-8001}" \
  --workers "${GRANIAN_WORKERS:-$(nproc)}" \
  --blocking-threads "${GRANIAN_BLOCKING_THREADS:-1}" \
  --backlog "${GRANIAN_BACKLOG:-2048}" \
  --no-ws \
  --respawn-failed-workers \
  --log-level "${GRANIAN_LOG_LEVEL:-warning}" \
  "$@"
