#!/bin/sh
# Fill proxysql.cnf's placeholders (names between @ signs) from the environment: render.sh TEMPLATE OUTPUT.
# Refuses a missing value, or one with a double quote or backslash (it would end the
# libconfig string early), so ProxySQL never starts on a half-filled file.
set -eu
template="$1"
output="$2"

: "${DEPOT_DB_USER:=depot}"
: "${DEPOT_DB_READER_USER:=depot_reader}"
: "${PROXYSQL_MONITOR_USER:=proxysql_monitor}"
: "${PROXYSQL_PRIMARY_HOST:=mariadb-primary}"
: "${PROXYSQL_REPLICA_HOST:=mariadb-replica}"

script="$(mktemp)"
trap 'rm -f "$script"' EXIT
for name in DEPOT_DB_USER DEPOT_DB_PASSWORD DEPOT_DB_READER_USER DEPOT_DB_READER_PASSWORD \
  PROXYSQL_MONITOR_USER PROXYSQL_MONITOR_PASSWORD PROXYSQL_ADMIN_PASSWORD \
  PROXYSQL_PRIMARY_HOST PROXYSQL_REPLICA_HOST; do
  value="$(eval "printf '%s' \"\${$name:-}\"")"
  if [ -z "$value" ]; then
    echo "proxysql: $name is not set" >&2
    exit 1
  fi
  case "$value" in
    *\"* | *\\*)
      echo "proxysql: $name may not contain a double quote or a backslash" >&2
      exit 1
      ;;
  esac
  escaped="$(printf '%s' "$value" | sed -e 's/[|&]/\\&/g')"
  printf 's|@%s@|%s|g\n' "$name" "$escaped" >>"$script"
done

sed -f "$script" "$template" >"$output"
if grep -q '@[A-Z_]*@' "$output"; then
  echo "proxysql: placeholders left in $output: $(grep -o '@[A-Z_]*@' "$output" | sort -u | tr '\n' ' ')" >&2
  exit 1
fi
