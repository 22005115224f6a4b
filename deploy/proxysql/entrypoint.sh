#!/bin/sh
# ProxySQL's entrypoint in compose: fill proxysql.cnf from the environment, then run ProxySQL
# in the foreground on it. --initial rebuilds the runtime from the file on every start, so a
# changed file is what runs (runtime edits through the admin interface are not kept).
set -eu
here="$(dirname "$0")"
sh "$here/render.sh" "$here/proxysql.cnf" /tmp/proxysql.cnf
exec proxysql -f --idle-threads --initial -c /tmp/proxysql.cnf -D /var/lib/proxysql "$@"
