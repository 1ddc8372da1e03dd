#!/usr/bin/env bash
# Installs what building JavaScript plugins needs: Node.js (apt, if missing) and the
# pinned componentize-qjs and esbuild (npm ci from this folder's package-lock.json
# into ~/.cache/millrace/js, or MILLRACE_JS_TOOLCHAIN). Idempotent and quiet; a second
# run takes well under a second.
set -euo pipefail

die() {
    for line in "$@"; do echo "setup.sh: $line" >&2; done
    exit 1
}

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dest=${MILLRACE_JS_TOOLCHAIN:-$HOME/.cache/millrace/js}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq nodejs npm >/dev/null; } ||
        die "cannot install Node.js: \`${sudo:+sudo }apt-get install nodejs npm\` failed (above)"
fi
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || die "Node.js $(node --version) is too old: building JavaScript plugins needs 18 or newer"

stamp=$dest/node_modules/.millrace-package-lock.json
if cmp -s "$sdk/package-lock.json" "$stamp" &&
    [ -f "$dest/node_modules/componentize-qjs/package.json" ] &&
    [ -f "$dest/node_modules/esbuild/package.json" ]; then
    exit 0
fi
mkdir -p "$dest"
cp "$sdk/package.json" "$sdk/package-lock.json" "$dest/"
(cd "$dest" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) ||
    die "\`npm ci\` in $dest failed (above); by hand: cd $dest && npm ci"
cp "$sdk/package-lock.json" "$stamp"
