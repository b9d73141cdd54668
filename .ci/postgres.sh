#!/usr/bin/env bash
# Installs (when missing) and starts a local PostgreSQL for the service's integration tests, and
# prints the URL to use. Idempotent: safe to run again. Needs root or sudo.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then root=(); else root=(sudo); fi

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    echo "== installing PostgreSQL (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${root[@]}" apt-get update -qq >&2
    "${root[@]}" apt-get install -y -qq postgresql >&2
fi

version=$(ls /usr/lib/postgresql | sort -n | tail -1)
if ! pg_lsclusters -h | awk '{print $1" "$2}' | grep -q "^$version main$"; then
    "${root[@]}" pg_createcluster "$version" main >&2
fi
if ! pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $4}' | grep -q online; then
    "${root[@]}" pg_ctlcluster "$version" main start >&2
fi
port=$(pg_lsclusters -h | awk -v v="$version" '$1==v && $2=="main" {print $3}')

# A role that may create the throw-away test databases; password auth over TCP on loopback.
"${root[@]}" su postgres -c "psql -q -p $port -v ON_ERROR_STOP=1" >&2 <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'taskforce') THEN
    CREATE ROLE taskforce LOGIN CREATEDB PASSWORD 'taskforce';
  END IF;
END \$\$;
SELECT 'CREATE DATABASE taskforce OWNER taskforce' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'taskforce')\gexec
SQL
echo "postgres://taskforce:taskforce@127.0.0.1:$port/taskforce"
