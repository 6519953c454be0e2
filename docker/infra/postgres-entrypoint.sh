#!/bin/sh
# Entrypoint of xorb/infra-postgres: the parts of the official postgres image's
# docker-entrypoint.sh that matter, in POSIX sh, for a server that already runs as the
# postgres user. On first start (no PG_VERSION in PGDATA) it runs initdb with
# POSTGRES_USER / POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE, a Docker secret), creates
# POSTGRES_DB, runs /docker-entrypoint-initdb.d/*.sql|*.sql.gz|*.sh, then execs postgres.
set -eu

log() { printf 'docker-entrypoint: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# file_env VAR [DEFAULT]: VAR from $VAR or from the file named by $VAR_FILE, not both.
file_env() {
    var=$1 def=${2:-}
    eval "val=\${$var:-}" "fval=\${${var}_FILE:-}"
    if [ -n "$val" ] && [ -n "$fval" ]; then
        die "both $var and ${var}_FILE are set (they are exclusive)"
    fi
    if [ -n "$fval" ]; then
        [ -r "$fval" ] || die "${var}_FILE names $fval, which cannot be read"
        val=$(cat "$fval")
    fi
    [ -n "$val" ] || val=$def
    export "$var=$val"
    unset "${var}_FILE" || true
}

# `docker run IMAGE -c log_statement=all` passes options to postgres.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    die "run this image as the postgres user (it does not switch users itself)"
fi

if [ "$1" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    auth=${POSTGRES_HOST_AUTH_METHOD:-}
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
        die "the database is uninitialized and no superuser password is set: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE (or POSTGRES_HOST_AUTH_METHOD=trust, for tests only)"
    fi
    [ -n "$auth" ] || auth=scram-sha-256

    mkdir -p "$PGDATA"
    chmod 0700 "$PGDATA" 2>/dev/null || true
    log "initializing $PGDATA"
    # The password goes through a pipe, never argv or a file.
    # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of words by design
    printf '%s\n' "$POSTGRES_PASSWORD" | initdb --username="$POSTGRES_USER" \
        --pwfile=/dev/stdin --auth-local=trust --auth-host="$auth" \
        --encoding=UTF8 --locale=C.UTF-8 $POSTGRES_INITDB_ARGS >/dev/null
    printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

    # A temporary server on the Unix socket only, so nothing connects before init is done.
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p 5432" start >/dev/null
    export PGUSER="$POSTGRES_USER" PGHOST=/var/run/postgresql PGPORT=5432
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --dbname postgres -q \
            -c "CREATE DATABASE \"$(printf '%s' "$POSTGRES_DB" | sed 's/"/""/g')\";"
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        [ -e "$f" ] || continue
        # shellcheck disable=SC1090 # init scripts are the user's
        case "$f" in
            *.sh) log "running $f"; . "$f" ;;
            *.sql) log "running $f"; psql -v ON_ERROR_STOP=1 --dbname "$POSTGRES_DB" -q -f "$f" ;;
            *.sql.gz) log "running $f"; gzip -dc "$f" | psql -v ON_ERROR_STOP=1 --dbname "$POSTGRES_DB" -q ;;
            *) log "ignoring $f" ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    unset PGUSER PGHOST PGPORT
    log "init done; starting the server"
fi

unset POSTGRES_PASSWORD
exec "$@"
