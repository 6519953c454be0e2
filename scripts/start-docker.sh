#!/usr/bin/env bash
# Start dockerd (when it is not already answering) and the local registry on 127.0.0.1:5000,
# then wait, bounded, until both answer. Idempotent: running services are left alone.
#
# Environment:
#   DOCKER_START_TIMEOUT   seconds to wait for the daemon (default 60)
#   XORB_STATE_DIR         where logs and the registry's data go (default /var/lib/xorb)
#   XORB_NO_REGISTRY=1     do not start the local registry
set -euo pipefail

TIMEOUT=${DOCKER_START_TIMEOUT:-60}
STATE_DIR=${XORB_STATE_DIR:-/var/lib/xorb}
REGISTRY_ADDR=127.0.0.1:5000

log() { printf 'start-docker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$STATE_DIR"

if docker info >/dev/null 2>&1; then
    log "docker daemon already answering"
else
    command -v dockerd >/dev/null 2>&1 || die "dockerd is not installed; run scripts/install-docker.sh first."
    [ "$(id -u)" -eq 0 ] || die "starting dockerd needs root (try: sudo $0)."
    deadline=$((SECONDS + TIMEOUT))
    starts=0
    until [ -S /var/run/docker.sock ] && docker info >/dev/null 2>&1; do
        # None running, or one that was shutting down has exited since: start ours (twice
        # at most: a dockerd that dies on start says why in its log).
        if ! pgrep -x dockerd >/dev/null 2>&1; then
            [ "$starts" -lt 2 ] || die "dockerd exited twice on start; see $STATE_DIR/dockerd.log."
            log "starting dockerd (log: $STATE_DIR/dockerd.log)"
            nohup dockerd >>"$STATE_DIR/dockerd.log" 2>&1 </dev/null &
            starts=$((starts + 1))
        fi
        [ "$SECONDS" -lt "$deadline" ] || die "dockerd did not answer within ${TIMEOUT}s; see $STATE_DIR/dockerd.log."
        sleep 1
    done
    log "docker daemon is up: $(docker version --format '{{.Server.Version}}')"
fi

registry_up() { python3 - "$REGISTRY_ADDR" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://{sys.argv[1]}/v2/", timeout=2)
except Exception:
    sys.exit(1)
PY
}

if [ "${XORB_NO_REGISTRY:-0}" = 1 ]; then
    exit 0
fi
if registry_up; then
    log "registry already answering on $REGISTRY_ADDR"
    exit 0
fi
command -v docker-registry >/dev/null 2>&1 || die "docker-registry is not installed; run scripts/install-docker.sh first."
mkdir -p "$STATE_DIR/registry"
cat >"$STATE_DIR/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE_DIR/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
YML
log "starting docker-registry on $REGISTRY_ADDR (log: $STATE_DIR/registry.log)"
nohup docker-registry serve "$STATE_DIR/registry.yml" >>"$STATE_DIR/registry.log" 2>&1 </dev/null &
deadline=$((SECONDS + 30))
until registry_up; do
    [ "$SECONDS" -lt "$deadline" ] || die "the registry did not answer within 30s; see $STATE_DIR/registry.log."
    sleep 1
done
log "registry is up on $REGISTRY_ADDR"
