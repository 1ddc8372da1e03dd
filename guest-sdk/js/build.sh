#!/usr/bin/env bash
# Builds a JavaScript plugin folder into a millrace component.
#
#   guest-sdk/js/build.sh PLUGIN_DIR OUT.wasm
#
# PLUGIN_DIR holds `plugin.js`, an ES module whose default export is the plugin class
# (a DoFn, CombineFn, WindowFn or Trigger of the SDK, imported from "millrace"); it
# may import the folder's other modules and npm packages of its node_modules. The
# kind of class picks the WIT world. esbuild bundles the plugin with the SDK and
# componentize-qjs embeds the bundle in QuickJS and snapshots it (so module-level code
# runs at build time, never when the host starts the plugin). Nothing is written into
# PLUGIN_DIR but OUT.
#
# Environment: MILLRACE_WIT (the WIT folder; else the repository's wit/),
# MILLRACE_JS_TOOLCHAIN (where setup.sh installed componentize-qjs and esbuild; else
# ~/.cache/millrace/js), NODE (the Node.js command; else node).
set -euo pipefail

componentize_qjs=0.4.5
esbuild=0.28.2

die() {
    for line in "$@"; do echo "build.sh: $line" >&2; done
    exit 1
}

[ $# -eq 2 ] || die "usage: build.sh PLUGIN_DIR OUT.wasm"
plugin_dir=$(cd "$1" 2>/dev/null && pwd) || die "$1 is not a folder"
out=$2
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wit=${MILLRACE_WIT:-$sdk/../../wit}
toolchain=${MILLRACE_JS_TOOLCHAIN:-$HOME/.cache/millrace/js}
node=${NODE:-node}

[ -f "$plugin_dir/plugin.js" ] ||
    die "$plugin_dir has no plugin.js (the ES module whose default export is the plugin class)"
[ -f "$wit/millrace.wit" ] || die "no WIT package at $wit; set MILLRACE_WIT to the repository's wit/ folder"
wit=$(cd "$wit" && pwd)

by_hand="mkdir -p $toolchain && cp $sdk/package.json $sdk/package-lock.json $toolchain/ && (cd $toolchain && npm ci)"
if ! command -v "$node" >/dev/null 2>&1; then
    die "Node.js is not installed (the build runs on Node.js 18 or newer). Install it with:" \
        "    scripts/setup   (or guest-sdk/js/setup.sh), which also installs componentize-qjs;" \
        "or by hand: apt-get install nodejs npm, then $by_hand"
fi
major=$("$node" -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || die "Node.js $("$node" --version) is too old: the build needs 18 or newer"
if [ ! -f "$toolchain/node_modules/componentize-qjs/package.json" ] ||
    [ ! -f "$toolchain/node_modules/esbuild/package.json" ]; then
    die "componentize-qjs is not installed. Install it with:" \
        "    scripts/setup   (or guest-sdk/js/setup.sh, which installs componentize-qjs $componentize_qjs and esbuild $esbuild into $toolchain)" \
        "or by hand: $by_hand" \
        "or set MILLRACE_JS_TOOLCHAIN to a folder where they are installed."
fi
found=$("$node" -p "require('$toolchain/node_modules/componentize-qjs/package.json').version")
if [ "$found" != "$componentize_qjs" ]; then
    echo "build.sh: warning: componentize-qjs $found, not $componentize_qjs, which this SDK was tested with" >&2
fi

exec "$node" "$sdk/tools/build.mjs" "$toolchain" "$wit" "$plugin_dir" "$out"
