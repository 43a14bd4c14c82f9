"""Old 100 dpi fax-like scans of sheets, and how many of their printed words a reading recovers."""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from pipeline.samples.corpus import random_sheet
from pipeline.samples.degrade import degrade
from pipeline.samples.render import render_sheet
from pipeline.samples.truth import LANGUAGES

__all__ = ["FAX_DPI", "FaxPage", "text_tokens", "word_recall", "write_fax_set"]

FAX_DPI = 100
_RENDER_DPI = 300
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+(?:[-./:,][^\W_]+)*")


@dataclass(frozen=True, slots=True)
class FaxPage:
    """One written fax-like page and the words typed on it."""

    path: Path
    language: str
    bitonal: bool
    text: str  # every typed string of the page, one per line
    delivery_number: str
    customer: str


def write_fax_set(outdir: Path, *, count: int = 12, seed: int = 1) -> list[FaxPage]:
    """Write `count` one-page sheets as 100 dpi PNG scans, half grey and half bitonal, languages in turn.

    A sheet is drawn at 300 dpi, scanned with mild damage, then brought down to 100 dpi the way a fax
    machine or an old scanner does (area averaging; bitonal pages are thresholded after it).

    Args:
        outdir: Folder to write into (created if missing).
        count: Pages to write.
        seed: Seed of every choice (same seed, same files).

    Returns:
        One `FaxPage` per file, in name order.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"fax:{seed}")
    out: list[FaxPage] = []
    for i in range(count):
        lang = LANGUAGES[i % len(LANGUAGES)]
        sheet = random_sheet(rng, language=lang, pages=1)
        (clean,) = render_sheet(sheet, dpi=_RENDER_DPI, rng=random.Random(rng.getrandbits(64)))
        text = clean.info["text"]
        scanned = degrade(clean, random.Random(rng.getrandbits(64)), level="mild").convert("L")
        size = (round(scanned.width * FAX_DPI / _RENDER_DPI), round(scanned.height * FAX_DPI / _RENDER_DPI))
        small = scanned.resize(size, Image.Resampling.BOX)
        bitonal = i % 2 == 1
        if bitonal:
            small = small.point(lambda v: 255 if v > 160 else 0).convert("1")
        path = outdir / f"fax-{i + 1:03d}-{lang}.png"
        small.save(path, "PNG", dpi=(FAX_DPI, FAX_DPI))
        out.append(FaxPage(path, lang, bitonal, text, sheet.delivery_number, sheet.customer))
    return out


def text_tokens(text: str) -> Counter[str]:
    """The words of `text` as a multiset: case-folded Latin words and numbers, and single CJK characters.

    Chinese has no spaces, so it is counted character by character; a lone letter or punctuation mark is
    not a word.
    """
    text = unicodedata.normalize("NFKC", text).casefold()
    tokens: Counter[str] = Counter(_CJK.findall(text))
    for word in _WORD.findall(_CJK.sub(" ", text)):
        if len(word) >= 2:
            tokens[word] += 1
    return tokens


def word_recall(truth: str, read: str) -> tuple[int, int]:
    """How many of the words typed on a page (`truth`) a reading (`read`) holds: (found, total).

    Each word counts as often as it is printed, and is found at most as often as it was read.
    """
    want, got = text_tokens(truth), text_tokens(read)
    found = sum(min(n, got[w]) for w, n in want.items())
    return found, sum(want.values())
