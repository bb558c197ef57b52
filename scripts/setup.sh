#!/usr/bin/env bash
# Make ./.venv with everything the zoo needs, on a fresh machine.
# torch goes in first, pinned to the CPU wheel, so nothing later pulls a CUDA build.
# Then Debian's chromium (headless), for the test that loads the study report in a real
# browser, unless ZOO_SKIP_BROWSER=1; where it cannot be installed that test is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# an interrupted earlier set-up can leave a .venv without pip: make it again
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
    rm -rf .venv
    "$PY" -m venv .venv
fi
VPIP=".venv/bin/python -m pip"
$VPIP install --quiet --disable-pip-version-check --upgrade "pip>=24"
$VPIP install --quiet --disable-pip-version-check "torch==2.13.0"
$VPIP install --quiet --disable-pip-version-check -e ".[dev]"
echo "set-up done: .venv is ready (activate with 'source .venv/bin/activate')"

if [ "${ZOO_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "chromium not installed: no apt-get here (the report's browser test will skip)"
    elif [ "$(id -u)" != 0 ]; then
        echo "chromium not installed: apt-get needs root (the report's browser test will skip)"
    else
        # refresh the package lists only when they do not know chromium yet
        apt-cache show chromium >/dev/null 2>&1 || apt-get update -qq >/dev/null 2>&1 || true
        if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                chromium >/dev/null 2>&1; then
            echo "chromium installed (for the report's browser test)"
        else
            echo "chromium could not be installed with apt-get (the report's browser test will skip)"
        fi
    fi
fi
