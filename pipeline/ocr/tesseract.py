"""Tesseract through pytesseract: word boxes and confidences, errors translated on the spot."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Protocol

import pytesseract
from PIL import Image

from pipeline.document import Word
from pipeline.errors import ToolMissing

__all__ = ["OcrEngine", "TesseractEngine", "is_cjk", "words_to_text"]

log = logging.getLogger(__name__)

# One thread per tesseract run unless the operator says otherwise. Its OpenMP threads fight each
# other and anything else on the machine: on 2 cores a 300 dpi page took about three times as long
# with the default. The watch service's readers, `process` and `inspect` all read through here.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


class OcrEngine(Protocol):
    """Reads a page image into words; `languages` overrides the engine's own, in priority order."""

    languages: tuple[str, ...]

    def osd(self, image: Image.Image, dpi: int) -> tuple[str | None, int, float]: ...

    def __call__(self, image: Image.Image, languages: Sequence[str] | None = None) -> tuple[Word, ...]: ...


def is_cjk(ch: str) -> bool:
    """True for Chinese/Japanese ideographs and CJK punctuation (no spaces between them)."""
    o = ord(ch)
    return (
        0x4E00 <= o <= 0x9FFF
        or 0x3400 <= o <= 0x4DBF
        or 0x3000 <= o <= 0x303F
        or 0xFF00 <= o <= 0xFFEF
        or 0x20000 <= o <= 0x2A6DF
    )


def _join(a: str, b: str) -> str:
    if a and b and is_cjk(a[-1]) and is_cjk(b[0]):
        return a + b
    return f"{a} {b}" if a else b


def words_to_text(words: Sequence[Word]) -> str:
    """Lay words out as lines of text in reading order (CJK characters are not space-separated)."""
    lines: dict[int, list[Word]] = {}
    for w in words:
        lines.setdefault(w.line, []).append(w)
    out = []
    for key in sorted(lines, key=lambda k: (min(w.top for w in lines[k]), k)):
        text = ""
        for w in sorted(lines[key], key=lambda w: w.left):
            text = _join(text, w.text)
        out.append(text)
    return "\n".join(out)


@contextlib.contextmanager
def _on_disk(image: Image.Image) -> Iterator[str]:
    """The image as an uncompressed PGM/PPM file for tesseract to read, removed afterwards.

    pytesseract handed a PIL image compresses it to a temporary PNG, which tesseract then decodes:
    on a 300 dpi page that cost 0.1-0.2 s of a 0.5 s reading. A PNM file costs neither.
    """
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB" if image.mode in ("RGBA", "P", "CMYK") else "L")
    fd, name = tempfile.mkstemp(prefix="signoff-ocr-", suffix=".pgm" if image.mode == "L" else ".ppm")
    try:
        with os.fdopen(fd, "wb") as fh:
            image.save(fh, format="PPM")
        yield name
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)


class TesseractEngine:
    """Runs tesseract on a page image and returns its words with boxes and confidences."""

    def __init__(self, languages: Sequence[str], psm: int = 6, timeout: float = 180.0) -> None:
        self.languages = tuple(languages)
        self.psm = psm
        self.timeout = timeout

    def check(self) -> None:
        """Raise ToolMissing unless tesseract and every configured language pack are installed."""
        if shutil.which("tesseract") is None:
            raise ToolMissing("tesseract is not installed; run scripts/setup.sh", stage="ocr")
        have = set(pytesseract.get_languages(config=""))
        lacking = [lang for lang in self.languages if lang not in have]
        if lacking:
            raise ToolMissing(
                f"tesseract language pack(s) missing: {', '.join(lacking)}; "
                f"install tesseract-ocr-{lacking[0].replace('_', '-')}",
                stage="ocr",
            )

    def osd(self, image: Image.Image, dpi: int) -> tuple[str | None, int, float]:
        """Tesseract's orientation and script detection: (script, degrees to rotate, confidence).

        Runs on a 150 dpi copy (it needs shapes, not detail). A page with too little text for a
        verdict gives (None, 0, 0.0).
        """
        scale = min(1.0, 150 / max(dpi, 1))
        small = image.resize((int(image.width * scale), int(image.height * scale))) if scale < 1 else image
        try:
            with _on_disk(small) as path:
                out = pytesseract.image_to_osd(path, config="--psm 0 -c min_characters_to_try=20", timeout=self.timeout)
        except pytesseract.TesseractNotFoundError:
            raise ToolMissing("tesseract is not installed; run scripts/setup.sh", stage="ocr") from None
        except pytesseract.TesseractError:
            return None, 0, 0.0
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        try:
            rotate = int(info.get("Rotate", "0").strip())
            conf = float(info.get("Orientation confidence", "0").strip())
        except ValueError:
            rotate, conf = 0, 0.0
        return info.get("Script", "").strip() or None, rotate, conf

    def __call__(self, image: Image.Image, languages: Sequence[str] | None = None) -> tuple[Word, ...]:
        try:
            with _on_disk(image) as path:
                data = pytesseract.image_to_data(
                    path,
                    lang="+".join(languages or self.languages),
                    config=f"--psm {self.psm}",
                    output_type=pytesseract.Output.DICT,
                    timeout=self.timeout,
                )
        except pytesseract.TesseractNotFoundError:
            raise ToolMissing("tesseract is not installed; run scripts/setup.sh", stage="ocr") from None
        except pytesseract.TesseractError as exc:
            raise ToolMissing(f"tesseract failed: {exc.message.strip()[:200]}", stage="ocr") from None
        words: list[Word] = []
        line_ids: dict[tuple[int, int, int], int] = {}
        for i, raw in enumerate(data["text"]):
            text = unicodedata.normalize("NFC", (raw or "").strip())
            conf = float(data["conf"][i])
            if not text or conf < 0:
                continue
            key = (data["block_num"][i], data["par_num"][i], data["line_num"][i])
            line = line_ids.setdefault(key, len(line_ids))
            words.append(
                Word(
                    text=text,
                    left=int(data["left"][i]),
                    top=int(data["top"][i]),
                    width=int(data["width"][i]),
                    height=int(data["height"][i]),
                    conf=conf,
                    line=line,
                )
            )
        log.debug("ocr: %d words", len(words))
        return tuple(words)
