#!/usr/bin/env bash
# Set everything up, then run the main job on the embedded default
# (SQLite catalog + local Zarr arrays under ./zoo-home + bundled MNIST).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/zoo quickstart "$@"
