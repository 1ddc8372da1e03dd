#!/usr/bin/env bash
# Runs Python plugins' tests natively (no WebAssembly): each folder's
# `python3 -m unittest test_plugin`, with this SDK importable.
#
#   guest-sdk/python/test.sh [PLUGIN_DIR…]
#
# Without folders: the SDK's own unit tests, then every plugin under plugins/python/.
set -euo pipefail

sdk=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-python3}
export PYTHONPATH="$sdk${PYTHONPATH:+:$PYTHONPATH}"
if [ $# -eq 0 ]; then
    "$python" -m unittest discover -q -s "$sdk/tests" -p 'test_*.py'
    set -- "$sdk"/../../plugins/python/*/
fi
for folder in "$@"; do
    (cd "$folder" && "$python" -m unittest -q test_plugin)
done
