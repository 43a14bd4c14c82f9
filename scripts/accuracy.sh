#!/usr/bin/env bash
# Accuracy benchmark (per-field accuracy of the reader on a wide generated corpus), set-up included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/accuracy.py "$@"
