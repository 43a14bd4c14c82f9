#!/usr/bin/env bash
# Throughput benchmark (issue 7): signoff beside the OCR-only limit and ocrmypdf + zbarimg, set-up included.
# Options go to scripts/bench_pages.py: --pages N, --seed N, --jobs N, --skip RUN, --keep DIR, --json, --help.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python scripts/bench_pages.py "$@"
