#!/usr/bin/env bash
# Builds a Python plugin folder into a millrace component.
#
#   guest-sdk/python/build.sh PLUGIN_DIR OUT.wasm
#
# PLUGIN_DIR holds `plugin.py`, whose class decorated with `@millrace.export` is the
# plugin (a DoFn, CombineFn, WindowFn or Trigger); other modules of the folder may be
# imported by it. The kind of plugin picks the WIT world. The build imports the plugin
# once natively (with python3) to learn its kind, then runs componentize-py, which
# imports it again inside the component and snapshots the interpreter (so module-level
# code runs at build time, never when the host starts the plugin).
#
# Environment: COMPONENTIZE_PY (the componentize-py command; else the one on PATH,
# else ~/.cache/millrace/pyvenv/bin/componentize-py), MILLRACE_WIT (the WIT folder;
# else the repository's wit/), PYTHON (the native interpreter; else python3).
set -euo pipefail

version=0.25.1
venv="$HOME/.cache/millrace/pyvenv"

die() {
    echo "build.sh: $*" >&2
    exit 1
}

[ $# -eq 2 ] || die "usage: build.sh PLUGIN_DIR OUT.wasm"
plugin_dir=$(cd "$1" 2>/dev/null && pwd) || die "$1 is not a folder"
out=$2
sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
wit=${MILLRACE_WIT:-$sdk/../../wit}
python=${PYTHON:-python3}

[ -f "$plugin_dir/plugin.py" ] || die "$plugin_dir has no plugin.py (the module that exports the plugin)"
[ -f "$wit/millrace.wit" ] || die "no WIT package at $wit; set MILLRACE_WIT to the repository's wit/ folder"

componentize=${COMPONENTIZE_PY:-$(command -v componentize-py || true)}
if [ -z "$componentize" ] && [ -x "$venv/bin/componentize-py" ]; then
    componentize=$venv/bin/componentize-py
fi
if [ -z "$componentize" ] || ! "$componentize" --version >/dev/null 2>&1; then
    die "componentize-py is not installed. Install it with:
    python3 -m venv $venv && $venv/bin/pip install componentize-py==$version
or set COMPONENTIZE_PY to its path."
fi
found=$("$componentize" --version | awk '{print $2}')
if [ "$found" != "$version" ]; then
    echo "build.sh: warning: componentize-py $found, not $version, which this SDK was tested with" >&2
fi

kind=$(
    "$python" - "$sdk" "$plugin_dir" <<'EOF'
import sys

sys.path[:0] = [sys.argv[2], sys.argv[1]]
import plugin  # noqa: F401, E402 - registers the exported class
from millrace.functions import exported, kind_of  # noqa: E402

print(kind_of(exported()))
EOF
) || die "cannot import $plugin_dir/plugin.py natively (above) to learn its kind"

case $kind in
dofn) world=dofn-plugin export=Dofn ;;
combine) world=combine-plugin export=CombineFn ;;
window) world=window-plugin export=WindowFn ;;
trigger) world=trigger-plugin export=Trigger ;;
*) die "unexpected plugin kind $kind" ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cat >"$stage/millrace_app.py" <<EOF
"""The component's entry, written by build.sh: the plugin and its world's export."""

import plugin  # noqa: F401 - its @millrace.export registers the plugin
from millrace._wit.$kind import $export  # noqa: F401 - the export componentize-py wraps
EOF

mkdir -p "$(dirname "$out")"
"$componentize" --quiet -d "$wit" -w "$world" componentize millrace_app \
    -p "$stage" -p "$plugin_dir" -p "$sdk" -o "$out"
echo "built $out ($kind, world $world, $(du -h "$out" | cut -f1))"
