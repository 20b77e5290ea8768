#!/usr/bin/env bash
# Install the system libraries the offscreen renderer (mobrecon.viz) needs:
# moderngl's EGL backend on Mesa's llvmpipe software rasteriser (no GPU, no display).
#
#   libegl1          libEGL.so.1 (glvnd EGL dispatcher)
#   libgl1           libGL.so.1  (glcontext resolves GL entry points through it)
#   libegl-mesa0     Mesa's EGL vendor library + /usr/share/glvnd/egl_vendor.d/50_mesa.json
#   libgl1-mesa-dri  Mesa's DRI drivers incl. swrast/llvmpipe (not pulled in by the above)
#   libjemalloc2     not for rendering: `mobrecon train` preloads it (mobrecon.train.allocator)
#
# Idempotent: does nothing (and prints almost nothing) when everything is present.
# When something is missing it runs apt-get (as root, or through sudo). When it cannot
# install, it prints one line naming the packages and exits 0 so pure-python tests still run.
#
# Usage: tools/install_system_deps.sh [--check]
#   --check   only report; exit 1 when something is missing, never install.
# Set MOBRECON_SKIP_SYSTEM_DEPS=1 to skip entirely.
set -u

PACKAGES="libegl1 libgl1 libegl-mesa0 libgl1-mesa-dri libjemalloc2"
CHECK_ONLY=0
[ "${1:-}" = "--check" ] && CHECK_ONLY=1

if [ "${MOBRECON_SKIP_SYSTEM_DEPS:-0}" = "1" ]; then
    exit 0
fi

have_lib() {  # have_lib libEGL.so.1
    local ldc
    ldc=$(command -v ldconfig || echo /sbin/ldconfig)
    "$ldc" -p 2>/dev/null | grep -q "[[:space:]]$1[[:space:]]"
}

multiarch() {
    if command -v dpkg-architecture >/dev/null 2>&1; then
        dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null && return
    fi
    if command -v gcc >/dev/null 2>&1; then
        gcc -print-multiarch 2>/dev/null && return
    fi
    echo "$(uname -m)-linux-gnu"
}

have_mesa_egl_vendor() {
    local d
    for d in /usr/share/glvnd/egl_vendor.d /etc/glvnd/egl_vendor.d; do
        ls "$d"/*mesa*.json >/dev/null 2>&1 && return 0
    done
    return 1
}

have_mesa_swrast() {
    local ma f
    ma=$(multiarch)
    for f in /usr/lib/"$ma"/dri/swrast_dri.so /usr/lib/"$ma"/dri/kms_swrast_dri.so \
             /usr/lib/dri/swrast_dri.so /usr/lib64/dri/swrast_dri.so; do
        [ -e "$f" ] && return 0
    done
    # Mesa >= 24 ships the gallium drivers in one libgallium-*.so
    ls /usr/lib/"$ma"/libgallium-*.so >/dev/null 2>&1
}

missing=()
have_lib libEGL.so.1 || missing+=("libEGL.so.1")
have_lib libGL.so.1 || missing+=("libGL.so.1")
have_mesa_egl_vendor || missing+=("mesa EGL vendor")
have_mesa_swrast || missing+=("mesa swrast/llvmpipe driver")
have_lib libjemalloc.so.2 || missing+=("libjemalloc.so.2")

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

cannot_install() {
    echo "install_system_deps: offscreen rendering needs the Debian/Ubuntu packages: $PACKAGES (missing: ${missing[*]}; $1) -- rendering tests will be skipped." >&2
    exit 0
}

if [ $CHECK_ONLY -eq 1 ]; then
    echo "install_system_deps: missing ${missing[*]}; install with: apt-get install -y --no-install-recommends $PACKAGES" >&2
    exit 1
fi

command -v apt-get >/dev/null 2>&1 || cannot_install "no apt-get on this system"

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        cannot_install "not root and no sudo"
    elif sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    elif [ -t 0 ]; then
        SUDO=(sudo)
    else
        cannot_install "not root and sudo needs a password"
    fi
fi

echo "install_system_deps: missing ${missing[*]}; installing $PACKAGES" >&2
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086
if ! { "${SUDO[@]}" apt-get update -qq && "${SUDO[@]}" apt-get install -y -qq --no-install-recommends $PACKAGES >/dev/null; }; then
    cannot_install "apt-get failed"
fi
exit 0
