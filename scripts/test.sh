#!/usr/bin/env bash
# The test suite, end-to-end tests included (real tesseract, zbar, poppler, whoosh). Set-up included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest --runslow "$@"
