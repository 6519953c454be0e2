#!/usr/bin/env bash
# Provision a host for the tasks: a Docker engine >= 26 with buildx, compose v2 and the
# containerd image store (so the default builder can export a build cache), and the local
# registry on 127.0.0.1:5000; with --qemu also arm64 emulation (scripts/install-qemu.sh).
# `.ci/run` and every GitHub Actions job run exactly this.
#
# Idempotent. Runs the two scripts as root: directly when root, else through sudo (GitHub's
# runners); a running dockerd on the classic image store is restarted on the containerd one.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo --preserve-env=XORB_STATE_DIR,DOCKER_START_TIMEOUT,XORB_NO_REGISTRY "$@"
    else
        printf 'provision: needs root: run it as root (there is no sudo here).\n' >&2
        exit 1
    fi
}

as_root bash scripts/install-docker.sh --check || as_root bash scripts/install-docker.sh
if [ "${1:-}" = "--qemu" ]; then  # arm64 images under emulation (the engine tests build one)
    bash scripts/install-qemu.sh --check || as_root bash scripts/install-qemu.sh
fi
as_root bash scripts/start-docker.sh
