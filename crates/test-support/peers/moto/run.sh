#!/usr/bin/env bash
# moto's S3 (all AWS services, in memory) on 127.0.0.1:PORT (default 0 = any free port).
# Ready when stderr shows: " * Running on http://127.0.0.1:<port>"
# Usage: run.sh [PORT]   (installs the pinned moto[server] into python3 if it is missing)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 -c 'import moto, flask; assert moto.__version__ == "5.2.5"' 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
exec python3 -m moto.server -H 127.0.0.1 -p "${1:-0}"
