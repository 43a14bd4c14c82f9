#!/usr/bin/env bash
# Reading benchmark (pages per minute, peak memory), set-up included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/bench_pages.py "$@"
