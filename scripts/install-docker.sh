#!/usr/bin/env bash
# Install a Docker engine (>= 26) with the buildx and compose v2 plugins on Debian 12/13,
# enable the containerd image store (so the default builder can export cache), install
# Debian's docker-registry for a local registry on 127.0.0.1:5000, and Debian's cosign
# (to check release signatures with the standard tool; Debian 13's package on Debian 12).
# On another distribution whose engine is already new enough (GitHub's Ubuntu runners ship
# docker-ce 28) it only does the last two: configure the store, install docker-registry.
#
# Idempotent: when a suitable engine and the plugins are present it changes nothing.
# Debian 13 (trixie) ships docker.io 26, docker-buildx and docker-compose (v2).
# Debian 12 (bookworm) has only docker.io 20.10 and no plugins: the trixie .debs are
# downloaded from the host's own mirror and installed; their dependencies resolve from 12.
#
# Usage: scripts/install-docker.sh            install (if needed)
#        scripts/install-docker.sh --check    exit 0 when everything is already there
set -euo pipefail

MIN_ENGINE_MAJOR=26
DAEMON_JSON=/etc/docker/daemon.json
PLUGIN_DIR=/usr/libexec/docker/cli-plugins

log() { printf 'install-docker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo $0)."
[ -r /etc/os-release ] || die "/etc/os-release is missing; only Debian 12 and 13 are supported."
# shellcheck disable=SC1091
. /etc/os-release

engine_major() {
    command -v dockerd >/dev/null 2>&1 || { echo 0; return; }
    dockerd --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p' | head -n1
}

have_plugin() { [ -x "$PLUGIN_DIR/docker-$1" ] || [ -x "/usr/local/lib/docker/cli-plugins/docker-$1" ] \
    || [ -x "$HOME/.docker/cli-plugins/docker-$1" ]; }

engine_ok() {
    local major
    major=$(engine_major)
    [ "${major:-0}" -ge "$MIN_ENGINE_MAJOR" ] && have_plugin buildx && have_plugin compose
}

registry_ok() { command -v docker-registry >/dev/null 2>&1; }
cosign_ok() { command -v cosign >/dev/null 2>&1; }

daemon_json_ok() {
    [ -f "$DAEMON_JSON" ] && python3 - "$DAEMON_JSON" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
sys.exit(0 if cfg.get("features", {}).get("containerd-snapshotter") is True else 1)
PY
}

if [ "${1:-}" = "--check" ]; then
    engine_ok && registry_ok && daemon_json_ok && cosign_ok
    exit $?
fi

mirror_uri() {
    # The host's own Debian mirror, from deb822 or one-line sources.
    local uri
    uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -v security | head -n1 || true)
    if [ -z "$uri" ]; then
        uri=$(grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | grep -v security | grep -Ei 'debian' | awk '{print $2}' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

apt_updated=0
apt_update() { [ "$apt_updated" = 1 ] || { apt-get update -qq; apt_updated=1; }; }

# Debian 13 packages: installed from the suite on 13, as trixie .debs elsewhere (Debian 12,
# or Ubuntu for cosign, which it does not package: GitHub's runners).
install_trixie() {
    export DEBIAN_FRONTEND=noninteractive
    if [ "${ID:-}" = debian ] && [ "${VERSION_ID%%.*}" = 13 ]; then
        apt_update
        apt-get install -y -qq "$@" >/dev/null
        return
    fi
    local tmp mirror=http://deb.debian.org/debian
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    [ "${ID:-}" = debian ] && mirror=$(mirror_uri)
    if [ ! -f /usr/share/keyrings/debian-archive-keyring.gpg ]; then
        apt_update
        apt-get install -y -qq debian-archive-keyring >/dev/null
    fi
    log "fetching $* from Debian 13 (trixie) on $mirror"
    mkdir -p "$tmp/lists/partial" "$tmp/debs"
    chmod -R a+rwx "$tmp"  # apt downloads as the _apt user
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
        >"$tmp/trixie.list"
    apt-get -qq -o Dir::Etc::SourceList="$tmp/trixie.list" -o Dir::Etc::SourceParts=/dev/null \
        -o Dir::State::Lists="$tmp/lists" update
    (cd "$tmp/debs" && apt-get -qq -o Dir::Etc::SourceList="$tmp/trixie.list" \
        -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$tmp/lists" \
        download "$@")
    apt_update
    # apt's own chatter (debconf, needrestart) goes to a log shown only on failure
    NEEDRESTART_SUSPEND=1 apt-get install -y -qq "$tmp"/debs/*.deb >"$tmp/apt.log" 2>&1 \
        || { cat "$tmp/apt.log" >&2; die "apt-get could not install $*."; }
}

configure_daemon() {
    mkdir -p "$(dirname "$DAEMON_JSON")"
    python3 - "$DAEMON_JSON" <<'PY'
import json, os, sys
path = sys.argv[1]
cfg = {}
if os.path.exists(path) and os.path.getsize(path):
    with open(path) as fh:
        cfg = json.load(fh)
cfg.setdefault("features", {})["containerd-snapshotter"] = True
tmp = path + ".tmp"
with open(tmp, "w") as fh:
    json.dump(cfg, fh, indent=2)
    fh.write("\n")
os.replace(tmp, path)
PY
}

changed=0
if engine_ok; then
    log "engine $(engine_major).x with buildx and compose already installed"
else
    [ "${ID:-}" = debian ] || die "installing the engine is supported on Debian 12 and 13 only (found ${ID:-unknown}); install Docker Engine >= $MIN_ENGINE_MAJOR from your distribution, then run this again."
    case "${VERSION_ID:-}" in
        12* | 13*) install_trixie docker.io docker-buildx docker-compose ;;
        *) die "unsupported Debian version ${VERSION_ID:-unknown}; Debian 12 and 13 are supported." ;;
    esac
    changed=1
    engine_ok || die "engine installed but dockerd >= $MIN_ENGINE_MAJOR or a plugin is still missing."
fi

if ! daemon_json_ok; then
    configure_daemon
    changed=1
    log "enabled the containerd image store in $DAEMON_JSON (restart dockerd if it is running)"
fi

if ! registry_ok; then
    apt_update
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry >/dev/null
    # Debian starts it as a system service where systemd runs; we start it ourselves.
    changed=1
fi

if ! cosign_ok; then
    install_trixie cosign
    changed=1
fi

if [ "$changed" = 0 ]; then
    log "nothing to do"
else
    log "done: $(dockerd --version)"
fi
