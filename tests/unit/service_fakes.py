"""Stand-ins for the drop-folder service tests: small real images whose delivery numbers ride in their metadata.

The reader here runs in the service's worker processes (spawned: they import this module), so it
is a plain module-level function. No tesseract: a file says what is on it.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from pipeline.document import FieldResult, FieldStatus, Page, ScanDoc
from pipeline.errors import BadInput, ReasonCode
from pipeline.service.reading import Read, ReadFn
from pipeline.settings import Settings

TEXT_TAG = 270  # TIFF ImageDescription


def write_png(path: Path, dns: str, *, seed: int = 0) -> Path:
    """A small real PNG carrying its delivery numbers ("DN-1" or "DN-1,DN-2", or CRASH/SLOW:n)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("L", (480, 640), 255)
    img.putpixel((seed % 480, (seed // 480) % 640), 0)  # different seeds, different bytes
    info = PngInfo()
    info.add_text("dns", dns)
    img.save(path, format="PNG", pnginfo=info, dpi=(100, 100))
    return path


def write_tiff(path: Path, dns: list[str]) -> Path:
    """A multi-page TIFF batch: one page per delivery number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = [Image.new("L", (480, 640), 255) for _ in dns]
    for i, page in enumerate(pages):
        page.putpixel((i, i), 0)
    pages[0].save(path, save_all=True, append_images=pages[1:], description=",".join(dns), dpi=(100, 100))
    return path


def fake_reader(settings: Settings) -> ReadFn:
    """The stand-in the workers read with: delivery numbers from the file's metadata."""

    def read(path: Path) -> Read:
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        if not data:
            raise BadInput(f"{path.name} is empty (0 bytes)", reason=ReasonCode.ZERO_BYTES, stage="ingest")
        if not data.startswith((b"\x89PNG", b"II*\x00", b"MM\x00*")):
            raise BadInput(f"{path.name} is not an image", reason=ReasonCode.UNSUPPORTED, stage="ingest")
        with Image.open(path) as img:
            kind = "png" if img.format == "PNG" else "tiff"
            text = img.info.get("dns") or (img.tag_v2.get(TEXT_TAG) if kind == "tiff" else "")
        if text == "CRASH":
            os._exit(3)
        if text.startswith("SLOW:"):
            time.sleep(float(text.split(":")[1]))
            text = text.split(":", 2)[2]
        fields = {
            "customer": FieldResult(FieldStatus.OK, "Acme Freight"),
            "time": FieldResult(FieldStatus.OK, "2025-03-14T10:30"),
        }
        docs = [
            ScanDoc(path, sha, (Page(i + 1),), "signoff", dn, "barcode", fields)
            for i, dn in enumerate(text.split(","))
        ]
        return Read(kind, sha, docs)

    return read


class FakeEngine:
    """Never called: the service's own Pipeline only needs an engine that needs no tesseract."""

    languages = ("eng",)

    def osd(self, image, dpi):  # noqa: ANN001, ANN201
        raise AssertionError("no OCR in these tests")

    def __call__(self, image, languages=None):  # noqa: ANN001, ANN201
        raise AssertionError("no OCR in these tests")
