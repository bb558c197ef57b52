#!/usr/bin/env bash
# Set everything up, then run the main job on the embedded default (SQLite catalog + local
# Zarr arrays under ./zoo-home + bundled MNIST): the Yeom & Lee (2025) study, quick profile.
# Extra arguments go to `zoo reproduce` (e.g. --profile full, --epochs gmn=12).
set -euo pipefail
cd "$(dirname "$0")/.."
ZOO_SKIP_BROWSER=1 bash scripts/setup.sh   # the study needs no browser; its test does
exec .venv/bin/zoo reproduce --profile quick "$@"
