#!/usr/bin/env bash
# The demo: set-up, then generated sample scans into inbox/, processed, tabled and searched.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/signoff demo "$@"
