#!/usr/bin/env bash
# Give the engine's built-in BuildKit an empty cache-key store again.
#
# Why: every build that exports a cache (`inv build` does) walks BuildKit's key store,
# <docker root>/buildkit/cache.db. It grows with every build and a builder prune never
# shrinks it. On our 2-core hosts, after a few days of builds (a 54 MB store), a cold
# `inv build` spent about 7 CPU-seconds walking it (README, Performance).
# `inv doctor` warns when the store is large.
#
# What: refuses while containers run (stopping dockerd would stop them), prunes the
# builder cache (as `docker buildx prune --all` does: the next build is cold), stops
# dockerd, moves the store aside to cache.db.old and starts dockerd again (systemd when it
# manages docker, else scripts/start-docker.sh). Images, volumes and local caches stay.
#
# Usage: sudo scripts/reset-buildkit-keys.sh [--force]   (--force: stop running containers)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
STOP_TIMEOUT=${DOCKER_STOP_TIMEOUT:-60}

log() { printf 'reset-buildkit-keys: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
case "${1:-}" in
    "") ;;
    --force) force=1 ;;
    *) die "unknown option '$1' (the only option is --force)." ;;
esac

[ "$(id -u)" -eq 0 ] || die "resetting the key store restarts dockerd and needs root (try: sudo $0)."
docker info >/dev/null 2>&1 || die "no Docker daemon answers; start it with scripts/start-docker.sh first."
[ "$(docker info --format '{{.Name}}')" = "$(hostname)" ] \
    || die "the Docker engine runs on another machine; run this script there."
store="$(docker info --format '{{.DockerRootDir}}')/buildkit/cache.db"
[ -f "$store" ] || die "no BuildKit key store at $store."

running=$(docker ps --quiet | wc -l)
if [ "$running" -gt 0 ] && [ "$force" -eq 0 ]; then
    die "$running container(s) running; stopping dockerd would stop them (stop them first, or pass --force)."
fi

before=$(du -h --apparent-size "$store" | cut -f1)
log "pruning the builder cache"
docker buildx prune --all --force >/dev/null

if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
    manager=systemd
    log "stopping docker (systemd)"
    systemctl stop docker.socket docker
else
    manager=script
    log "stopping dockerd"
    pkill -TERM -x dockerd || true
fi
deadline=$((SECONDS + STOP_TIMEOUT))
while pgrep -x dockerd >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "dockerd did not stop within ${STOP_TIMEOUT}s; the key store is untouched."
    sleep 1
done

mv -f "$store" "$store.old"
log "moved the key store ($before) to $store.old"

if [ "$manager" = systemd ]; then
    systemctl start docker
else
    bash "$HERE/start-docker.sh"
fi
docker info >/dev/null 2>&1 \
    || die "dockerd did not come back; the old store is at $store.old (move it back to undo)."
log "done: BuildKit key store now $(du -h --apparent-size "$store" 2>/dev/null | cut -f1 || echo 'not yet created')"
