#!/bin/sh
# Healthy when redis answers PING (authenticating when a password is configured).
set -eu
if [ -n "${REDIS_PASSWORD_FILE:-}" ] && [ -r "$REDIS_PASSWORD_FILE" ]; then
    REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE")
    export REDISCLI_AUTH
elif [ -n "${REDIS_PASSWORD:-}" ]; then
    export REDISCLI_AUTH="$REDIS_PASSWORD"
fi
[ "$(redis-cli -h 127.0.0.1 -p "${REDIS_PORT:-6379}" ping)" = PONG ]
