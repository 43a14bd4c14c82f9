#!/usr/bin/env bash
# Installs everything signoff needs on a Debian machine: system packages, then a virtualenv with the
# package in it. Safe to run again: it only does what is missing. Run as root (or with sudo available).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  tesseract-ocr tesseract-ocr-osd tesseract-ocr-eng tesseract-ocr-swe tesseract-ocr-chi-sim   # OCR, orientation, languages
  libzbar0            # barcode decoding (pyzbar loads it)
  poppler-utils       # pdftoppm/pdfinfo for pdf2image
  ghostscript         # ocrmypdf needs it: the throughput benchmark's alternative (make bench)
  zbar-tools          # zbarimg: the benchmark alternative's barcode reader
  fonts-dejavu-core fonts-liberation2 fonts-noto-cjk   # fonts the sample generator renders with
  fonts-dejavu-extra fonts-droid-fallback fonts-noto-mono   # fonts tests/e2e/test_reading_e2e.py draws its own forms with
  python3 python3-venv python3-dev
  chromium            # headless browser for the html report's test (tests/e2e/test_report_e2e.py)
  redis-server        # the broker the celery executor's end-to-end tests start (tests/e2e/test_celery.py)
  ca-certificates
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >&2
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "setup: $PY is older than 3.11; install Python 3.11+ or set PYTHON=/path/to/python3.11" >&2
  exit 3
fi

stamp=".venv/.signoff-setup"
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)"
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: creating the virtualenv in .venv" >&2
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >&2 || true
.venv/bin/python -m pip install -q -e '.[celery]' pytest >&2  # the extra: the celery executor's tests
echo "$want" > "$stamp"
