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

wants_containerd_store() {
    [ -f /etc/docker/daemon.json ] && python3 - /etc/docker/daemon.json <<'PY'
import json, sys
sys.exit(0 if json.load(open(sys.argv[1])).get("features", {}).get("containerd-snapshotter") else 1)
PY
}
on_containerd_store() { docker info --format '{{json .DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter'; }
# The system daemon's pid: other dockerd processes (test engines in namespaces of their own,
# xorb_tools.core.engines) are never ours to stop or to mistake for it.
system_dockerd() {
    local pid
    pid=$(cat /var/run/docker.pid 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST}" != unix:///var/run/docker.sock ]; then
    die "DOCKER_HOST points at another engine ($DOCKER_HOST): this script starts the local system daemon only; unset DOCKER_HOST."
fi

# A daemon that runs on the classic image store although daemon.json asks for the containerd
# one (started before install-docker.sh configured it, or a GitHub runner's docker-ce): its
# default builder cannot export a build cache, so restart it on the store it is configured for.
if docker info >/dev/null 2>&1 && wants_containerd_store && ! on_containerd_store; then
    [ "$(id -u)" -eq 0 ] || die "dockerd must be restarted on the containerd image store, which needs root (run scripts/provision.sh)."
    log "restarting dockerd on the containerd image store (images in the classic store stay on disk, unused)"
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
        systemctl restart docker
    elif pid=$(system_dockerd); then
        kill "$pid"
        deadline=$((SECONDS + TIMEOUT))
        while kill -0 "$pid" 2>/dev/null; do
            [ "$SECONDS" -lt "$deadline" ] || die "dockerd did not stop within ${TIMEOUT}s."
            sleep 1
        done
    else
        die "dockerd runs on the classic image store but not as a service or from /var/run/docker.pid: restart it yourself."
    fi
fi

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
        if ! system_dockerd >/dev/null; then
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
