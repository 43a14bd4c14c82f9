"""Barcodes: decode every code on a page and pick out the delivery number and page marker."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from PIL import Image

from pipeline.document import Barcode
from pipeline.errors import ToolMissing

__all__ = ["PageMarker", "decode_page", "split_page_marker"]

log = logging.getLogger(__name__)

# "DN-2025-004817 1/2": a delivery number followed by the page and the page count.
_MARKER = re.compile(r"^\s*(?P<id>.*?\S)\s+(?P<page>\d{1,3})\s*/\s*(?P<of>\d{1,3})\s*$")


@dataclass(frozen=True, slots=True)
class PageMarker:
    delivery_number: str
    page: int | None = None
    of: int | None = None


def split_page_marker(data: str) -> PageMarker:
    """Split `DN-2025-004817 1/2` into the delivery number and the page marker."""
    m = _MARKER.match(data)
    if m and 1 <= int(m["page"]) <= int(m["of"]):
        return PageMarker(m["id"], int(m["page"]), int(m["of"]))
    return PageMarker(data.strip())


def _zbar():
    try:
        from pyzbar import pyzbar
    except ImportError as exc:  # the shared library libzbar0 is missing
        raise ToolMissing(f"zbar is not installed ({exc}); run scripts/setup.sh", stage="barcode") from None
    return pyzbar


def decode_page(image: Image.Image, page: int) -> tuple[Barcode, ...]:
    """Decode every barcode on a page image, de-duplicated, in reading order."""
    pyzbar = _zbar()
    found: dict[tuple[str, str], Barcode] = {}
    for symbol in pyzbar.decode(image.convert("L")):
        try:
            data = symbol.data.decode("utf-8")
        except UnicodeDecodeError:
            data = symbol.data.decode("latin-1")
        data = "".join(ch for ch in data if ch.isprintable()).strip()
        if not data:
            continue
        r = symbol.rect
        key = (symbol.type, data)
        if key not in found:
            found[key] = Barcode(symbol.type, data, page, (r.left, r.top, r.width, r.height))
    codes = sorted(found.values(), key=lambda b: (b.rect[1], b.rect[0]))
    log.debug("page %d: %d barcode(s)", page, len(codes))
    return tuple(codes)
