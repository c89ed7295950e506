#!/bin/bash
# Entry point of the locally built Postgres image (scripts/bootstrap.sh, step `postgres`), for
# machines that cannot pull the official one. It keeps the official image's contract, so a stack
# may switch between the two: POSTGRES_USER / POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE, a
# mounted file, so the password is not in the container's environment) / POSTGRES_DB create the role
# and database on the first start, PGDATA holds the cluster, and `postgres ARGS…` passes ARGS to
# the server (e.g. `postgres -p 5433 -c listen_addresses=127.0.0.1`).
set -euo pipefail
export PGDATA=${PGDATA:-/var/lib/postgresql/data}
bin=$(echo /usr/lib/postgresql/*/bin)
# coreutils' chroot, since the minimal root filesystem has neither runuser nor gosu.
as_postgres=(chroot --userspec=postgres:postgres --skip-chdir /)

if [ "${1:-postgres}" != postgres ]; then exec "$@"; fi
[ $# -gt 0 ] && shift

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then POSTGRES_PASSWORD=$(cat "$POSTGRES_PASSWORD_FILE"); fi
  : "${POSTGRES_PASSWORD:?is required on the first start (it becomes the password of POSTGRES_USER)}"
  user=${POSTGRES_USER:-postgres}
  db=${POSTGRES_DB:-$user}
  pwfile=$(mktemp)
  printf '%s' "$POSTGRES_PASSWORD" >"$pwfile"
  chown postgres "$pwfile"
  "${as_postgres[@]}" "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 \
    --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  # Other containers reach the server over the Docker network, always with the password.
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  if [ "$db" != postgres ]; then
    # A server on the Unix socket only, just long enough to create the database.
    "${as_postgres[@]}" "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    "${as_postgres[@]}" "$bin/psql" -q -v ON_ERROR_STOP=1 -U "$user" -d postgres \
      -c "CREATE DATABASE \"$db\" OWNER \"$user\""
    "${as_postgres[@]}" "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
  fi
fi

exec "${as_postgres[@]}" "$bin/postgres" -D "$PGDATA" -c listen_addresses='*' "$@"
