#!/usr/bin/env bash
# Make ./.venv with everything the zoo needs, on a fresh machine.
# torch goes in first, pinned to the CPU wheel, so nothing later pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
VPIP=".venv/bin/python -m pip"
$VPIP install --quiet --disable-pip-version-check --upgrade "pip>=24"
$VPIP install --quiet --disable-pip-version-check "torch==2.13.0"
$VPIP install --quiet --disable-pip-version-check -e ".[dev]"
echo "set-up done: .venv is ready (activate with 'source .venv/bin/activate')"
