#!/bin/sh
# Trims the base image's root filesystem to what the services need at run time (the
# Dockerfile's `rootfs` stage; the result is copied into an empty image as ONE layer).
#
# Works on both supported bases: the air-gapped xorb/base (Debian's python3.11 in
# /usr/lib/python3.11) and the official python:3.11-slim-bookworm (python in /usr/local):
# packages that are not installed are skipped, paths that do not exist are ignored.
#
# Debian packages are purged with dpkg, so /var/lib/dpkg/status keeps describing exactly
# what is left (trivy reads it to find the OS packages and their vulnerabilities).
#
# Kept on purpose: dash (/bin/sh: the entrypoint is a sh script), coreutils, findutils,
# grep, sed (the container tests and operators run `id`, `sh -c`, `find`, `cat`, `stat`,
# `timeout`...), libc-bin (ldconfig: ctypes.util.find_library), the libraries Python's
# extension modules link (libssl3, libsqlite3-0, libffi8, libexpat1, zlib, bz2, lzma,
# libuuid1, libcrypt1), libstdc++6 (protobuf's upb extension in the orchestrator links
# it), ca-certificates, tzdata, media-types, base-files, base-passwd (+ user xorb).
set -eu

# The entrypoint (this script's argument) first.
if [ -n "${1:-}" ]; then
    install -m 0755 "$1" /usr/local/bin/xorb-entrypoint
fi

# Installers, package tooling and their keys; perl (only debconf/maintainer scripts use
# it); login/PAM/SELinux-policy tools; disk and mount tools; shells and text tools no
# service runs; the crypto/TLS stacks only apt and systemd link; Python's pip/setuptools
# wheels, venv/distutils/lib2to3 packages; openssl's CLI (libssl3 stays).
PURGE="
apt libapt-pkg6.0 gpgv debian-archive-keyring adduser
passwd login libpam-modules libpam-modules-bin libpam-runtime libpam0g
libsemanage2 libsemanage-common libsepol2 libaudit1 libaudit-common libcap-ng0
util-linux util-linux-extra mount bsdutils libmount1 libblkid1 libsmartcols1
libudev1 libsystemd0 libcap2 libseccomp2
e2fsprogs logsave libext2fs2 libss2 libcom-err2
libgnutls30 libp11-kit0 libtasn1-6 libunistring2 libidn2-0 libnettle8 libhogweed6
libgcrypt20 libgpg-error0 liblz4-1 libxxhash0
libnsl2 libtirpc3 libtirpc-common libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0
libkeyutils1 libdb5.3
bash gzip hostname ncurses-bin ncurses-base sysvinit-utils
init-system-helpers debianutils mawk
readline-common libreadline8 libncursesw6 libtinfo6
python3-pip-whl python3-setuptools-whl python3.11-venv python3-venv
python3-distutils python3-lib2to3
openssl
"
# Then what the maintainer scripts of the packages above may still call; and last dpkg
# with what it needs to start (tar, diff, libzstd1), in one run.
PURGE_LAST="debconf libdebconfclient0 perl-base"
PURGE_DPKG="tar diffutils libzstd1 dpkg"

# Which of the given packages are installed, in the order given (dpkg purges in that
# order, and alphabetical order broke a maintainer script): one dpkg-query for all of
# them (a query per package was some 200 processes). Shell only: awk (mawk) is purged.
installed() {
    have=" $(dpkg-query -W -f='${Status}:${Package} ' "$@" 2>/dev/null) "
    for pkg in "$@"; do
        case "$have" in *" installed:$pkg "*) printf '%s\n' "$pkg" ;; esac
    done
}

# Forced removal, on purpose: dpkg narrates every override (an essential package removed,
# a dependency broken, a directory another package still uses), two hundred-odd lines
# that are all expected. They are kept aside and printed only if dpkg fails.
purge() {
    if DEBIAN_FRONTEND=noninteractive dpkg --purge --force-remove-essential \
        --force-remove-protected --force-depends "$@" >/dev/null 2>/tmp/dpkg.log; then
        rm -f /tmp/dpkg.log
    else
        status=$?
        cat /tmp/dpkg.log >&2
        rm -f /tmp/dpkg.log
        return "$status"
    fi
}

# openssl.cnf belongs to the openssl package; libssl3 reads it: keep it.
cnf=/etc/ssl/openssl.cnf
if [ -f "$cnf" ]; then cp -p "$cnf" /tmp/openssl.cnf; fi

if command -v dpkg >/dev/null 2>&1; then
    # shellcheck disable=SC2086 # word splitting of the package lists is intended
    for list in "$PURGE" "$PURGE_LAST"; do
        pkgs=$(installed $list)
        if [ -n "$pkgs" ]; then
            # shellcheck disable=SC2086
            purge $pkgs
        fi
    done
fi

if [ -f /tmp/openssl.cnf ]; then
    mkdir -p /etc/ssl
    mv /tmp/openssl.cnf "$cnf"
fi

# Python: the parts of the standard library no service imports (tests, IDLE, Tk, turtle,
# ensurepip and its bundled wheels, lib2to3, distutils, pydoc's topic index, the static
# library for embedding) and the test-only extension modules.
for lib in /usr/lib/python3.11 /usr/local/lib/python3.11; do
    [ -d "$lib" ] || continue
    rm -rf "$lib/test" "$lib/idlelib" "$lib/tkinter" "$lib/turtledemo" "$lib/ensurepip" \
        "$lib/lib2to3" "$lib/distutils" "$lib/pydoc_data" "$lib/unittest/test" \
        "$lib/sqlite3/test" "$lib/ctypes/test" "$lib/tkinter" "$lib/__phello__" \
        "$lib/turtle.py" "$lib"/__pycache__/turtle.* "$lib"/config-3.11-* \
        "$lib"/lib-dynload/_test*.so "$lib"/lib-dynload/_ctypes_test*.so \
        "$lib"/lib-dynload/xxlimited*.so "$lib"/lib-dynload/_tkinter*.so \
        "$lib"/site-packages/pip* "$lib"/site-packages/setuptools* \
        "$lib"/site-packages/_distutils_hack "$lib"/site-packages/distutils-precedence.pth \
        "$lib"/site-packages/wheel*
done
rm -rf /usr/local/bin/idle3* /usr/local/bin/pydoc3* /usr/local/bin/2to3* \
    /usr/local/bin/pip* /usr/local/include/python3.11 /usr/local/lib/libpython3.11.a \
    /usr/share/python-wheels

# dpkg itself last: its status database stays (trivy reads /var/lib/dpkg/status and
# info/*.list), the tool that could change it goes, and so does base-passwd's
# update-passwd (its library, libdebconfclient0, is purged above; the passwd data
# stays). Then caches, logs, documentation (copyright files stay), manuals and
# translations.
if command -v dpkg >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    pkgs=$(installed $PURGE_DPKG)
    # Their maintainer scripts only maintain alternatives with update-alternatives, a
    # program of dpkg itself, which this same run may already have removed.
    for pkg in $pkgs; do
        rm -f "/var/lib/dpkg/info/$pkg.prerm" "/var/lib/dpkg/info/$pkg.postrm" \
            "/var/lib/dpkg/info/$pkg:"*.prerm "/var/lib/dpkg/info/$pkg:"*.postrm
    done
    # shellcheck disable=SC2086
    purge $pkgs
fi
rm -rf /usr/bin/dpkg /usr/bin/dpkg-* /usr/sbin/dpkg-* /usr/share/dpkg /etc/dpkg \
    /usr/bin/update-alternatives /usr/sbin/start-stop-daemon /usr/sbin/update-passwd \
    /var/lib/dpkg/info/*.md5sums /var/lib/dpkg/*-old /var/lib/dpkg/updates/* \
    /var/lib/dpkg/alternatives /etc/alternatives/* /var/lib/dpkg/triggers \
    /var/cache/* /var/log/* /var/lib/apt /etc/apt /var/lib/systemd \
    /usr/share/man /usr/share/info /usr/share/locale /usr/share/lintian /usr/share/linda \
    /usr/share/bash-completion /usr/share/common-licenses /usr/share/menu \
    /usr/share/pixmaps /usr/share/gcc /usr/share/gdb /root/.cache /tmp/*
find /usr/share/doc -mindepth 1 ! -type d ! -name 'copyright*' -delete 2>/dev/null || true
find /usr/share/doc -mindepth 1 -type d -empty -delete 2>/dev/null || true

# Every program and shared library left must still find its libraries (Python's optional
# extension modules for dbm, nis, readline and curses excepted: nothing imports them).
loader=
for candidate in /lib64/ld-linux-x86-64.so.2 /lib/ld-linux-aarch64.so.1; do
    if [ -x "$candidate" ]; then loader=$candidate; break; fi
done
# One loader run per file, nothing else unless it reports a library missing: "not found"
# for an indirect one, "cannot open shared object file" (on stderr, exit 127) for a
# direct one. It also fails on a file that is not ELF, such as a script: ignored.
missing=$(
    find /usr/bin /usr/sbin /usr/lib /usr/local/bin /usr/local/lib -type f \
        \( -perm -u+x -o -name '*.so*' \) \
        ! -path '*/lib-dynload/_dbm*' ! -path '*/lib-dynload/nis*' \
        ! -path '*/lib-dynload/readline*' ! -path '*/lib-dynload/_curses*' \
        -print 2>/dev/null |
        while read -r f; do
            libs=$("$loader" --list "$f" 2>&1) || true
            case "$libs" in
                *"not found"* | *"cannot open shared object file"*)
                    printf '%s\n' "$libs" | grep -e 'not found' -e 'cannot open shared object' \
                        | sed "s|^|$f: |" ;;
            esac
        done
)
if [ -n "$missing" ]; then
    printf 'runtime-rootfs: unresolved libraries after trimming:\n%s\n' "$missing" >&2
    exit 1
fi

# No set-id programs; the application's directory exists.
find / -xdev -perm /6000 -type f -exec chmod a-s {} + 2>/dev/null || true
mkdir -p /app/src
