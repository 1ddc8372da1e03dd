#!/usr/bin/env bash
# Builds a Go plugin folder into a millrace component.
#
#   guest-sdk/go/build.sh PLUGIN_DIR OUT.wasm
#
# PLUGIN_DIR holds a main package with plugin.go, which registers the plugin from an
# init function with the Export of one of the SDK's world packages
# (millrace.local/millrace/dofn, combine, window or trigger): the package it imports
# picks the WIT world. Its go.mod (written for it if absent) is pointed at this SDK.
# The build runs in a scratch folder (nothing is written into PLUGIN_DIR but OUT):
#
#   1. GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared, with an overlay of three
#      runtime files (see patch_runtime below);
#   2. wasm-tools component embed WIT --world WORLD;
#   3. wasm-tools component new --adapt wasi_snapshot_preview1=REACTOR.wasm
#      --realloc-via-memory-grow.
#
# Environment (toolchain.sh finds the tools): MILLRACE_WIT (the WIT folder; else the repository's wit/), GO (the go
# command; else ~/.cache/millrace/go-venv's, else go on PATH), WASM_TOOLS (else the
# venv's, else on PATH), MILLRACE_GO_ADAPTER (the preview1 reactor adapter; else
# ~/.cache/millrace/go/), GOCACHE (else ~/.cache/millrace/go-build).
set -euo pipefail

adapter_sha256=134b86dc09c6b62077f2307b96fa8b83b94dc86737bc705ac3dbe27cb107b1f9
module=millrace.local/millrace

die() { # each line of each argument, as a line of its own
    printf '%s\n' "$@" | sed 's/^/build.sh: /' >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: build.sh PLUGIN_DIR OUT.wasm"
plugin_dir=$(cd "$1" 2>/dev/null && pwd) || die "$1 is not a folder"
out=$2
mkdir -p "$(dirname "$out")" || die "cannot make the folder of $out"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=toolchain.sh
. "$sdk/toolchain.sh"
wit=${MILLRACE_WIT:-$sdk/../../wit}

[ -f "$plugin_dir/plugin.go" ] || die "$plugin_dir has no plugin.go (the file that exports the plugin)"
[ -f "$wit/millrace.wit" ] || die "no WIT package at $wit; set MILLRACE_WIT to the repository's wit/ folder"

install_hint() {
    die "$1" \
        "install it with: guest-sdk/go/setup.sh (or scripts/setup), or by hand:" \
        "    $go_install_command" \
        "  and the adapter wasi_snapshot_preview1.reactor.wasm of the crate wasi-preview1-component-adapter-provider 48.0.8 into ~/.cache/millrace/go/"
}

go=$(find_go)
[ -n "$go" ] || install_hint "Go ($go_version) is not installed."
found=$("$go" env GOVERSION)
case $found in
go1.2[4-9]* | go1.[3-9]*) ;;
*) install_hint "Go $found is too old: the SDK needs $go_version (//go:wasmexport came with Go 1.24)." ;;
esac
if [ "$found" != "$go_version" ]; then
    echo "build.sh: warning: Go $found, not $go_version, which this SDK was tested with" >&2
fi
wasm_tools=$(find_wasm_tools)
[ -n "$wasm_tools" ] || install_hint "wasm-tools ($wasm_tools_version) is not installed."
adapter=${MILLRACE_GO_ADAPTER:-$HOME/.cache/millrace/go/wasi_snapshot_preview1.reactor.wasm}
if [ ! -f "$adapter" ] || [ "$(sha256sum "$adapter" | cut -d' ' -f1)" != "$adapter_sha256" ]; then
    install_hint "the WASI preview1 reactor adapter (wasmtime 48's) is not at $adapter."
fi

goroot=$("$go" env GOROOT)
go_environment
export GOFLAGS=-mod=mod

stage=$(mktemp -d)
[ -n "${MILLRACE_KEEP_STAGE:-}" ] || trap 'rm -rf "$stage"' EXIT
src=$stage/src
mkdir -p "$src"
# The plugin's sources (not its components or hidden files).
(cd "$plugin_dir" && tar --exclude='*.wasm' --exclude='./.*' -cf - .) | (cd "$src" && tar -xf -)
cd "$src"
if [ ! -f go.mod ]; then
    printf 'module millrace-plugin\n\ngo 1.24\n' >go.mod
fi
"$go" mod edit -require="$module@v0.0.0" -replace="$module=$sdk" ||
    die "cannot point $plugin_dir/go.mod at the SDK (above)"

# Three runtime patches, as an overlay (GOROOT is not changed):
# - nanotime (os_wasip1.go): a sandbox may hold the monotonic clock at 0 (millrace
#   grants no clock by default), and Go's runtime refuses a clock that reads 0; the
#   patched clock moves on by a nanosecond when the host's does not.
# - the WASI adapter's memory (os_wasm.go, os_wasip1.go): the reactor adapter takes
#   its state with memory.grow at its first call, at the end of linear memory, where
#   Go's heap would grow over it. The patched osinit makes that first call before Go
#   lays out its heap, and starts the heap after the adapter's pages.
# - tracebacks (runtime1.go): a runtime fatal error (out of memory) prints every
#   goroutine's stack; the host reports only the last 4 KiB the plugin wrote, which
#   the stacks would fill. The patched runtime prints the message alone.
patch_file() { # FILE ANCHOR REPLACEMENT
    local text
    text=$(<"$goroot/src/runtime/$1")
    [[ $text == *"$2"* ]] ||
        die "cannot patch the runtime of Go $found (runtime/$1 changed): use $go_version"
    printf '%s\n' "${text/"$2"/"$3"}" >"$stage/overlay/$1"
    overlay+=("\"$goroot/src/runtime/$1\": \"$stage/overlay/$1\"")
}
patch_runtime() {
    mkdir -p "$stage/overlay"
    overlay=()
    local anchor='	blocMax = uintptr(currentMemory()) * physPageSize // record the initial linear memory size'
    patch_file os_wasm.go "$anchor" "$anchor
	millraceReserveAdapter() // millrace: see os_wasip1.go"
    patch_file os_wasip1.go 'func nanotime1() int64 {
	var time timestamp
	if clock_time_get(clockMonotonic, 0, &time) != 0 {
		throw("clock_time_get failed")
	}
	return int64(time)
}' 'func nanotime1() int64 {
	if millraceNoImports {
		// millrace: the host forbids imports now (cabi_realloc, cabi_post_*), and
		// the collector, which may run in an allocation, reads the clock.
		millraceLastNano++
		return millraceLastNano
	}
	var time timestamp
	if clock_time_get(clockMonotonic, 0, &time) != 0 {
		throw("clock_time_get failed")
	}
	// millrace: a sandbox may hold the clock at 0; Go'"'"'s runtime needs it to move.
	now := int64(time)
	if now <= millraceLastNano {
		now = millraceLastNano + 1
	}
	millraceLastNano = now
	return now
}

var millraceLastNano int64

// millraceNoImports is set by the SDK (internal/abi) while the component may not
// call imports: in cabi_realloc and cabi_post_* calls.
//
//go:linkname millraceNoImports
var millraceNoImports bool

// millraceReserveAdapter lets the WASI preview1 adapter take its state (with
// memory.grow, at the end of linear memory) before Go lays out its heap, and starts
// the heap after it, so that the two never overlap.
func millraceReserveAdapter() {
	var count, bufLen size
	environ_sizes_get(&count, &bufLen)
	if end := uintptr(currentMemory()) * physPageSize; end > blocMax {
		bloc = end
		blocMax = end
	}
}'
    anchor='		// Always include runtime frames in runtime throws unless
		// otherwise overridden by m.traceback.
		level = 2'
    patch_file runtime1.go "$anchor" '		// millrace: no stacks for runtime throws (the host reports the last 4 KiB
		// of stderr, which the stacks would fill); the message says what happened.
		level = 0'
    local IFS=,
    printf '{"Replace": {%s}}\n' "${overlay[*]}" >"$stage/overlay/overlay.json"
}
patch_runtime

export GOOS=wasip1 GOARCH=wasm
name=$("$go" list -f '{{.Name}}' . 2>"$stage/list.err") ||
    die "cannot load the package in $plugin_dir:" "$(cat "$stage/list.err")"
[ "$name" = main ] || die "plugin.go is package $name; a plugin is package main (with func main() {})"
worlds=$("$go" list -deps -f '{{.ImportPath}}' . |
    grep -E "^$module/(dofn|combine|window|trigger)\$" | sed "s|^$module/||" || true)
case $(echo "$worlds" | grep -c .) in
1) ;;
0) die "$plugin_dir exports no plugin: import one of $module/dofn, /combine, /window or /trigger and call its Export from an init function" ;;
*) die "$plugin_dir imports more than one kind of plugin ($(echo $worlds)); a component is one plugin" ;;
esac
case $worlds in
dofn) world=dofn-plugin ;;
combine) world=combine-plugin ;;
window) world=window-plugin ;;
trigger) world=trigger-plugin ;;
esac

"$go" build -trimpath -buildmode=c-shared -overlay="$stage/overlay/overlay.json" \
    -ldflags=-s -o "$stage/core.wasm" . 2>"$stage/build.err" ||
    die "go build failed:" "$(sed "s|$src/||g" "$stage/build.err")"
"$wasm_tools" component embed "$wit" --world "$world" "$stage/core.wasm" -o "$stage/embedded.wasm" 2>"$stage/embed.err" ||
    die "wasm-tools component embed failed:" "$(cat "$stage/embed.err")"
"$wasm_tools" component new "$stage/embedded.wasm" \
    --adapt "wasi_snapshot_preview1=$adapter" --realloc-via-memory-grow -o "$out_abs" 2>"$stage/new.err" ||
    die "wasm-tools component new failed:" "$(cat "$stage/new.err")"
echo "built $out ($worlds, world $world, $(du -h "$out_abs" | cut -f1))"
