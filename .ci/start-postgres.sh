#!/usr/bin/env bash
# A throwaway PostgreSQL server on 127.0.0.1 for the log-store tests.
#   bash .ci/start-postgres.sh        -> installs Debian's postgresql if missing, starts a cluster,
#                                        prints its DSN (the only line on stdout)
#   bash .ci/start-postgres.sh stop   -> stops it and removes its data
# Tests read the DSN from LLLM_TEST_POSTGRES_DSN and skip when it is unset.
set -euo pipefail

DATA="${LLLM_PG_DIR:-/tmp/lllm-test-postgres}"
PORT="${LLLM_PG_PORT:-54329}"
USER_NAME=lllm
PASSWORD=lllm-test
DB=lllm_test

log() { echo "start-postgres: $*" >&2; }

pg_bin() {
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

as_postgres() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

BIN=$(pg_bin || true)

if [ "${1:-start}" = stop ]; then
    if [ -n "$BIN" ] && [ -d "$DATA" ]; then
        as_postgres "$BIN/pg_ctl" -D "$DATA" -m fast stop >&2 || true
    fi
    rm -rf "$DATA"
    exit 0
fi

if [ -z "$BIN" ]; then
    log "installing postgresql from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    BIN=$(pg_bin)
fi

if ! as_postgres "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
    PWFILE=$(mktemp)
    echo "$PASSWORD" > "$PWFILE"
    chmod 644 "$PWFILE"
    as_postgres "$BIN/initdb" -D "$DATA" -U "$USER_NAME" --pwfile="$PWFILE" --auth=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >&2
    rm -f "$PWFILE"
    as_postgres "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c fsync=off" start >&2
    PGPASSWORD="$PASSWORD" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$USER_NAME" "$DB" >&2
    log "server up on 127.0.0.1:$PORT (data in $DATA)"
fi

echo "postgresql://$USER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
