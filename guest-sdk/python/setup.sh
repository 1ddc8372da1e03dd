#!/usr/bin/env bash
# Installs what builds Python plugins: componentize-py, pinned as this SDK was tested
# with, into ~/.cache/millrace/pyvenv (where build.sh finds it). Idempotent.
set -euo pipefail

componentize_py=0.25.1
pyvenv="$HOME/.cache/millrace/pyvenv"
if ! "$pyvenv/bin/componentize-py" --version 2>/dev/null | grep -qF "$componentize_py"; then
    python3 -m venv "$pyvenv"
    "$pyvenv/bin/pip" install --quiet "componentize-py==$componentize_py"
fi
