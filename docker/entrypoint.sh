#!/bin/sh
# PID 1 is dumb-init (signals are forwarded); this script only picks the default command
# and then execs it, so the service itself receives SIGTERM.
#   docker run IMAGE            -> python -m $XORB_SERVICE
#   docker run IMAGE CMD ARGS   -> CMD ARGS (e.g. python -m common.db migrate, sh)
set -eu
if [ "$#" -eq 0 ]; then
    set -- python3 -m "${XORB_SERVICE:?XORB_SERVICE is not set}"
fi
exec "$@"
