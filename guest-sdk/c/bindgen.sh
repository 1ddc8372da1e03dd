#!/usr/bin/env bash
# Regenerates the C bindings of the four worlds (guest-sdk/c/bindings/) from the WIT
# package with wit-bindgen's C generator, and records the WIT's sha256 and the
# generator's version in bindings/GENERATED, which test.sh and build.sh check:
#
#   guest-sdk/c/bindgen.sh
#
# Run it whenever wit/millrace.wit changes. It uses wit-bindgen-cli 0.63.0 (the Rust
# SDK's wit-bindgen is 0.63): $WIT_BINDGEN, else `wit-bindgen` on PATH, else
# ~/.cache/millrace/c-wit-bindgen/bin/wit-bindgen; if none is 0.63.0 it installs it
# there with `cargo install wit-bindgen-cli --version 0.63.0 --locked
# --no-default-features --features c` (about 10 minutes on two cores, once).
# Environment: MILLRACE_WIT (the WIT folder; else the repository's wit/).
set -euo pipefail

version=0.63.0
die() {
    echo "bindgen.sh: $*" >&2
    exit 1
}

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wit=${MILLRACE_WIT:-$sdk/../../wit}
[ -f "$wit/millrace.wit" ] || die "no WIT package at $wit; set MILLRACE_WIT to the repository's wit/ folder"
root=$HOME/.cache/millrace/c-wit-bindgen

is_pinned() {
    [ -n "$1" ] && "$1" --version 2>/dev/null | grep -qx "wit-bindgen-cli $version"
}

bindgen=${WIT_BINDGEN:-}
if ! is_pinned "$bindgen"; then
    bindgen=$(command -v wit-bindgen || true)
fi
if ! is_pinned "$bindgen"; then
    bindgen=$root/bin/wit-bindgen
fi
if ! is_pinned "$bindgen"; then
    command -v cargo >/dev/null || die "cargo is needed to install wit-bindgen-cli $version (https://rustup.rs)"
    echo "bindgen.sh: installing wit-bindgen-cli $version into $root (about 10 minutes, once)" >&2
    build=$(mktemp -d)
    CARGO_TARGET_DIR=$build nice cargo install wit-bindgen-cli --version "$version" --locked \
        --no-default-features --features c --root "$root" --quiet ||
        { rm -rf "$build"; die "cargo install wit-bindgen-cli $version failed (above)"; }
    rm -rf "$build"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for kind in dofn combine window trigger; do
    "$bindgen" c "$wit" --world "$kind-plugin" --no-object-file --out-dir "$stage/$kind" \
        >"$stage/log" 2>&1 || { cat "$stage/log" >&2; die "wit-bindgen failed for the $kind-plugin world (above)"; }
    rm "$stage/log"
done
hash=$(sha256sum "$wit/millrace.wit" | cut -d' ' -f1)
cat >"$stage/GENERATED" <<INFO
# Written by guest-sdk/c/bindgen.sh; test.sh and build.sh compare the WIT against it.
wit-sha256: $hash
generator: wit-bindgen-cli $version (c --no-object-file)
INFO
rm -rf "$sdk/bindings"
mkdir -p "$sdk/bindings"
cp -r "$stage"/* "$sdk/bindings/"
echo "bindings for wit/millrace.wit ($hash) in $sdk/bindings"
