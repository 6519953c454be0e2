#!/usr/bin/env bash
# Emulation for foreign-architecture builds (`inv build --platform linux/arm64`): Debian's
# qemu-user-static and binfmt-support, with the kernel's binfmt_misc handlers registered
# with the fix-binary flag (F), so BuildKit's containers find the emulator.
#
# Idempotent. Usage: scripts/install-qemu.sh [--check]
set -euo pipefail

BINFMT=/proc/sys/fs/binfmt_misc
log() { printf 'install-qemu: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

ready() { [ -f "$BINFMT/qemu-aarch64" ] && grep -q "^enabled" "$BINFMT/qemu-aarch64" && command -v arch-test >/dev/null 2>&1; }

if [ "${1:-}" = "--check" ]; then
    ready
    exit $?
fi
[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo $0)."
if ready; then
    log "arm64 emulation already registered"
    exit 0
fi
[ -f "$BINFMT/register" ] || mount -t binfmt_misc binfmt_misc "$BINFMT" \
    || die "cannot mount binfmt_misc at $BINFMT: this host (or container) does not allow emulation."
if ! command -v update-binfmts >/dev/null 2>&1 || ! command -v arch-test >/dev/null 2>&1 || [ ! -e /usr/libexec/qemu-binfmt/aarch64-binfmt-P ]; then
    # shellcheck disable=SC1091
    . /etc/os-release
    [ "${ID:-}" = debian ] || [ "${ID_LIKE:-}" = debian ] \
        || die "install qemu-user-static and binfmt-support from your distribution (found ${ID:-unknown})."
    out=$(mktemp)
    if ! DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
        apt-get install -y -qq qemu-user-static binfmt-support arch-test >"$out" 2>&1; then
        cat "$out" >&2
        die "apt-get could not install qemu-user-static, binfmt-support and arch-test."
    fi
    rm -f "$out"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
ready || die "qemu-aarch64 is installed but not registered in $BINFMT."
log "arm64 emulation registered: $(head -n2 "$BINFMT/qemu-aarch64" | tail -n1)"
