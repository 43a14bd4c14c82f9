"""Ingest: open a scan (PDF, TIFF, PNG, JPEG) and yield its pages as greyscale images."""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from pdf2image import convert_from_path, pdfinfo_from_path
from pdf2image.exceptions import PDFInfoNotInstalledError, PDFPageCountError, PDFSyntaxError
from PIL import Image, ImageSequence, UnidentifiedImageError

from pipeline.errors import BadInput, ReasonCode, ToolMissing, Unreadable
from pipeline.timing import stage

__all__ = ["MIN_READ_DPI", "RawPage", "SourceFile", "open_source", "render_dpi", "scan_dpi", "sha256_file", "sniff_type"]

log = logging.getLogger(__name__)

# A4 at 600 dpi is ~35 Mpx; allow generous scans but refuse decompression bombs.
MAX_PIXELS = 120_000_000
MIN_SIDE = 400  # px: anything smaller cannot hold a readable sheet
A4_WIDTH_IN = 8.27
# Tesseract wants text 20-40 px tall: a scan below this is enlarged to it before reading (on real
# 100 dpi forms tesseract read 57% of the words as they were, 75% enlarged 2x).
MIN_READ_DPI = 250
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sniff_type(path: Path) -> str:
    """Return "pdf", "tiff", "png" or "jpeg" from the file's first bytes, whatever its name says."""
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(1024)
    except OSError as exc:
        raise BadInput(f"cannot read {path.name}: {exc.strerror}", stage="ingest") from None
    if size == 0:
        raise BadInput(f"{path.name} is empty (0 bytes)", reason=ReasonCode.ZERO_BYTES, stage="ingest")
    if b"%PDF-" in head:
        return "pdf"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    raise BadInput(
        f"{path.name} is not a PDF, TIFF, PNG or JPEG file; scan to one of those",
        reason=ReasonCode.UNSUPPORTED,
        stage="ingest",
    )


@dataclass(frozen=True, slots=True)
class RawPage:
    """A page as rasterised from the source: 1-based number, greyscale image, resolution."""

    number: int
    image: Image.Image
    dpi: int


@dataclass(frozen=True, slots=True)
class SourceFile:
    """An opened source file: its type, hash and page count; pages are rasterised lazily."""

    path: Path
    kind: str
    sha256: str
    page_count: int
    dpi: int  # rasterising resolution for PDFs

    def pages(self) -> Iterator[RawPage]:
        """Yield pages one by one so a 200-page batch never sits in memory at once."""
        if self.kind == "pdf":
            yield from _pdf_pages(self.path, self.page_count, self.dpi)
        else:
            yield from _image_pages(self.path)

    def page(self, number: int) -> RawPage:
        """Page ``number`` (1-based) alone, as ``pages()`` yields it, with the same errors.

        For reading pages in other processes: each rasterises only its own page. Page 1 also
        checks that poppler can read the PDF, as ``pages()`` does before its first page.
        """
        if self.kind == "pdf":
            if number == 1:
                _check_pdf(self.path)
            return _pdf_page(self.path, number, self.dpi)
        return _image_page(self.path, number)


def open_source(path: Path, dpi: int = 300) -> SourceFile:
    """Check a file is something we can read and count its pages.

    Raises:
        BadInput: empty, unknown type, encrypted or corrupt PDF, no pages, bomb or tiny image.
        ToolMissing: poppler is not installed.
    """
    kind = sniff_type(path)
    digest = sha256_file(path)
    if kind == "pdf":
        count = _pdf_page_count(path)
    else:
        count = _image_page_count(path)
    if count == 0:
        raise BadInput(f"{path.name} has no pages", reason=ReasonCode.NO_PAGES, stage="ingest")
    return SourceFile(path=path, kind=kind, sha256=digest, page_count=count, dpi=dpi)


def _pdf_page_count(path: Path) -> int:
    try:
        with pikepdf.open(path) as pdf:
            return len(pdf.pages)
    except pikepdf.PasswordError:
        raise BadInput(
            f"{path.name} is an encrypted PDF; rescan it, or save it without a password",
            reason=ReasonCode.ENCRYPTED_PDF,
            stage="ingest",
        ) from None
    except pikepdf.PdfError as exc:
        raise BadInput(
            f"{path.name} is not a readable PDF ({str(exc).splitlines()[0][:120]}); rescan it",
            reason=ReasonCode.CORRUPT_PDF,
            stage="ingest",
        ) from None


def _check_poppler() -> None:
    if shutil.which("pdftoppm") is None or shutil.which("pdfinfo") is None:
        raise ToolMissing("poppler (pdftoppm) is not installed; run scripts/setup.sh", stage="ingest")


def _check_pdf(path: Path) -> None:
    """Raise unless poppler is installed and can read the PDF."""
    _check_poppler()
    try:
        with stage("rasterise"):
            pdfinfo_from_path(str(path))
    except PDFInfoNotInstalledError:
        raise ToolMissing("poppler (pdfinfo) is not installed; run scripts/setup.sh") from None
    except (PDFPageCountError, PDFSyntaxError) as exc:
        raise BadInput(
            f"{path.name}: poppler cannot read this PDF ({exc}); rescan it",
            reason=ReasonCode.CORRUPT_PDF,
            stage="ingest",
        ) from None


def _pdf_pages(path: Path, count: int, dpi: int) -> Iterator[RawPage]:
    _check_pdf(path)
    for number in range(1, count + 1):
        yield _pdf_page(path, number, dpi)


def scan_dpi(path: Path, number: int) -> int | None:
    """The resolution a scanned PDF page was scanned at: its one image's pixels over the page's
    size. None for a page that is not one image filling it (a PDF made by software, a page
    with several images, an image placed smaller than the page)."""
    try:
        with pikepdf.open(path) as pdf:
            page = pdf.pages[number - 1]
            images = list(page.get_images().values())
            if len(images) != 1:
                return None
            w_px, h_px = int(images[0].Width), int(images[0].Height)
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
    except (pikepdf.PdfError, IndexError, AttributeError, KeyError, TypeError, ValueError):
        return None
    w_in, h_in = abs(x1 - x0) / 72, abs(y1 - y0) / 72
    if min(w_in, h_in, w_px, h_px) <= 0:
        return None
    if (w_px > h_px) != (w_in > h_in):
        w_in, h_in = h_in, w_in  # a landscape image turned onto a portrait page, or the other way
    across, down = w_px / w_in, h_px / h_in
    if abs(across - down) > 0.03 * across:
        return None
    return round((across + down) / 2)


def render_dpi(path: Path, number: int, dpi: int) -> int:
    """The resolution to rasterise a PDF page at: a scan at its own resolution (raised to
    MIN_READ_DPI, never above ``dpi``); anything else at ``dpi``.

    Rendering a 200 dpi scan at 300 dpi invents no detail, and every later step (barcodes,
    cleaning, OCR) costs more for its 2.25 times the pixels.
    """
    native = scan_dpi(path, number)
    return dpi if native is None else min(dpi, max(native, MIN_READ_DPI))


def _pdf_page(path: Path, number: int, dpi: int) -> RawPage:
    _check_poppler()
    dpi = render_dpi(path, number, dpi)
    why = ""
    try:
        with stage("rasterise"):
            images = convert_from_path(str(path), dpi=dpi, first_page=number, last_page=number, grayscale=True)
    except (PDFPageCountError, PDFSyntaxError) as exc:
        images, why = [], f" ({exc})"
    if not images:
        raise Unreadable(
            f"{path.name}: page {number} could not be rasterised{why}",
            reason=ReasonCode.RASTERISE_FAILED,
            stage="ingest",
        )
    return RawPage(number=number, image=_check_size(images[0].convert("L"), path), dpi=dpi)


def _open_image(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except Image.DecompressionBombError:
        raise BadInput(
            f"{path.name} has more than {MAX_PIXELS:,} pixels; scan at 300 dpi or less",
            reason=ReasonCode.TOO_LARGE,
            stage="ingest",
        ) from None
    except (UnidentifiedImageError, OSError) as exc:
        raise BadInput(
            f"{path.name} is not a readable image ({exc}); rescan it",
            reason=ReasonCode.CORRUPT_IMAGE,
            stage="ingest",
        ) from None


def _image_page_count(path: Path) -> int:
    with _open_image(path) as img:
        return int(getattr(img, "n_frames", 1))


def _check_size(img: Image.Image, path: Path) -> Image.Image:
    if min(img.size) < MIN_SIDE:
        raise BadInput(
            f"{path.name} is only {img.width}x{img.height} pixels, too small to hold a sheet",
            reason=ReasonCode.TOO_SMALL,
            stage="ingest",
        )
    return img


def image_dpi(img: Image.Image) -> int:
    """The resolution an image file declares, or the one that makes it A4 wide."""
    declared = img.info.get("dpi")
    if declared:
        try:
            value = int(round(float(declared[0])))
        except (TypeError, ValueError, IndexError):
            value = 0
        if 50 <= value <= 1200:
            return value
    return max(72, int(round(min(img.size) / A4_WIDTH_IN)))


def _image_pages(path: Path) -> Iterator[RawPage]:
    with _open_image(path) as img:
        for number, frame in enumerate(ImageSequence.Iterator(img), start=1):
            yield _image_frame(path, number, frame)


def _image_page(path: Path, number: int) -> RawPage:
    with _open_image(path) as img:
        img.seek(number - 1)
        return _image_frame(path, number, img)


def _image_frame(path: Path, number: int, frame: Image.Image) -> RawPage:
    try:
        with stage("rasterise"):
            grey = frame.convert("L")
    except (OSError, ValueError) as exc:
        raise BadInput(
            f"{path.name}: page {number} is damaged ({exc}); rescan it",
            reason=ReasonCode.CORRUPT_IMAGE,
            stage="ingest",
        ) from None
    return RawPage(number=number, image=_check_size(grey, path), dpi=image_dpi(frame))
