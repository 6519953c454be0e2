#!/bin/sh
# Entrypoint of xorb/infra-redis. `redis-server [OPTIONS]` gets the defaults of the
# official image (listen everywhere, no protected mode, data in /data) plus:
#   REDIS_APPENDONLY=yes|no   append-only persistence (default no, as upstream)
#   REDIS_PASSWORD / REDIS_PASSWORD_FILE   requirepass; handed to redis on stdin, so it is
#                             in neither argv nor the environment of the server.
set -eu

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = redis-server ]; then
    shift
    password=${REDIS_PASSWORD:-}
    if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
        [ -r "$REDIS_PASSWORD_FILE" ] || { echo "redis: cannot read $REDIS_PASSWORD_FILE" >&2; exit 1; }
        password=$(cat "$REDIS_PASSWORD_FILE")
    fi
    unset REDIS_PASSWORD
    case "${REDIS_APPENDONLY:-no}" in
        yes|no) ;;
        *) echo "redis: REDIS_APPENDONLY must be yes or no, not ${REDIS_APPENDONLY}" >&2; exit 1 ;;
    esac
    # "-" reads the config from stdin; later command-line options override it.
    set -- redis-server - --dir /data --protected-mode no --bind '* -::*' \
        --appendonly "${REDIS_APPENDONLY:-no}" "$@"
    if [ -n "$password" ]; then
        # A double-quoted redis config string: escape backslashes and quotes.
        quoted=$(printf '%s' "$password" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')
        exec "$@" <<CONF
requirepass "$quoted"
CONF
    fi
    exec "$@" </dev/null
fi

exec "$@"
