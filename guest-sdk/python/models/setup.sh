#!/usr/bin/env bash
# Installs scikit-learn, skl2onnx and onnx, pinned by requirements.txt, into
# ~/.cache/millrace/ml-venv: what millrace_onnx.py, the scoring tests and the fraud
# example train and export models with. Idempotent: a venv that holds exactly these
# requirements is kept.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
venv="$HOME/.cache/millrace/ml-venv"
stamp="$venv/requirements.txt"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
    echo "setup.sh (models): installing scikit-learn, skl2onnx and onnx into $venv (pip)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi
