#!/bin/sh
# One process of `make stack` (deploy/stack/Procfile): write its pid file, then become it.
# exec keeps the pid, so the file names the role's own process (gunicorn's master, nginx's
# master, the Celery worker), which is what `make stack-down` signals if honcho is gone.
set -eu
name="$1"
shift
mkdir -p "$DEPOT_STACK_DIR/pids"
echo "$$" >"$DEPOT_STACK_DIR/pids/$name.pid"
exec "$@"
