"""Page preparation: blank-page detection and deskewing, on greyscale images."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

__all__ = ["deskew", "ink_mask", "is_blank"]

INK_LEVEL = 140  # grey below this is ink; bleed-through and scanner haze are lighter


def _small(img: Image.Image, dpi: int, target_dpi: int = 75) -> Image.Image:
    scale = min(1.0, target_dpi / max(dpi, 1))
    if scale >= 1.0:
        return img
    return img.resize((max(1, int(img.width * scale)), max(1, int(img.height * scale))), Image.BILINEAR)


def ink_mask(img: Image.Image, level: int = INK_LEVEL) -> np.ndarray:
    """Boolean array: True where the page has ink."""
    return np.asarray(img.convert("L")) < level


def is_blank(img: Image.Image, dpi: int) -> bool:
    """A page with (almost) no ink once specks and faint bleed-through are ignored.

    Ink is decided at full resolution (shrinking first greys thin print out of sight, and a
    one-line cover letter would pass for blank), specks are filtered away, and what remains is
    counted in 50 dpi cells; bleed-through from the other side is far lighter than ink.
    """
    ink = Image.fromarray(((np.asarray(img.convert("L")) < 150) * 255).astype(np.uint8))
    ink = ink.filter(ImageFilter.MedianFilter(3))  # single-pixel scanner specks
    scale = min(1.0, 50 / max(dpi, 1))
    if scale < 1.0:
        ink = ink.resize((max(1, int(ink.width * scale)), max(1, int(ink.height * scale))), Image.BOX)
    cells = np.asarray(ink) > 25  # a cell holding ~10% ink
    # Ignore a thin frame at the edges: scanner shadows and punched holes live there.
    h, w = cells.shape
    my, mx = max(1, h // 30), max(1, w // 30)
    inner = cells[my : h - my, mx : w - mx]
    return float(inner.mean()) < 0.0008


def _skew_score(mask: np.ndarray) -> float:
    rows = mask.sum(axis=1).astype(np.float64)
    return float(np.square(np.diff(rows)).sum())


def estimate_skew(img: Image.Image, dpi: int, max_angle: float = 5.0) -> float:
    """Angle in degrees (counter-clockwise) that makes the text lines horizontal.

    A projection-profile search: rows of text give the sharpest row-sum profile when level.
    """
    # Binarise at full resolution, then shrink: shrinking first greys thin strokes out of sight
    # and leaves too little ink for a clear profile.
    ink = Image.fromarray(((np.asarray(img.convert("L")) < 160) * 255).astype(np.uint8))
    scale = min(1.0, 100 / max(dpi, 1))
    if scale < 1.0:
        ink = ink.resize((max(1, int(ink.width * scale)), max(1, int(ink.height * scale))), Image.BOX)
    base = Image.fromarray(((np.asarray(ink) > 40) * 255).astype(np.uint8))

    def score(angle: float) -> float:
        rotated = base.rotate(angle, resample=Image.NEAREST, expand=False, fillcolor=0)
        return _skew_score(np.asarray(rotated) > 0)

    best, best_score = 0.0, score(0.0)
    step = 0.5
    for angle in np.arange(-max_angle, max_angle + 1e-9, step):
        s = score(float(angle))
        if s > best_score * 1.0001:
            best, best_score = float(angle), s
    for angle in np.arange(best - step, best + step + 1e-9, 0.1):
        s = score(float(angle))
        if s > best_score * 1.0001:
            best, best_score = float(angle), s
    return round(best, 2)


def deskew(img: Image.Image, dpi: int) -> tuple[Image.Image, float]:
    """Return the page turned level, and the angle it was turned by (0 when already level)."""
    angle = estimate_skew(img, dpi)
    if abs(angle) < 0.15:
        return img, 0.0
    fill = 255 if img.mode == "L" else (255, 255, 255)
    return img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=fill), angle


def remove_rules(img: Image.Image, dpi: int) -> Image.Image:
    """Whiten long straight rules (table grids, boxes, underlines) so tesseract reads cell text.

    Tesseract's page segmentation drops whole table columns when the grid lines are left in;
    taken out, the cells read as ordinary text. Only OCR sees this copy: barcodes and the
    signature check look at the page as scanned.
    """
    from pipeline.ink import _runs  # the run finder is shared with the ink measurements

    grey = np.asarray(img.convert("L"))
    mask = grey < 160
    rules = _runs(mask, max(20, int(0.5 * dpi)), axis=1) | _runs(mask, max(12, int(0.3 * dpi)), axis=0)
    if not rules.any():
        return img
    grown = rules.copy()
    for s in (1, 2):
        grown[s:, :] |= rules[:-s, :]
        grown[:-s, :] |= rules[s:, :]
        grown[:, s:] |= rules[:, :-s]
        grown[:, :-s] |= rules[:, s:]
    out = grey.copy()
    out[grown] = 255
    return Image.fromarray(out)


def clean_for_ocr(img: Image.Image, dpi: int) -> Image.Image:
    """The copy of a page tesseract reads: rules, signatures, stamp frames and codes taken out.

    After the rules go, any connected blob taller or wider than printed glyphs ever are
    (a signature's strokes, a stamp's frame, a QR code) is whitened: tesseract otherwise merges
    it with the label beside it and reads neither. Field checks still look at the page as scanned.
    """
    import cv2

    grey = np.asarray(remove_rules(img, dpi).convert("L")).copy()
    ink = (grey < 160).astype(np.uint8)
    # Paper is white: scanner haze, bleed-through and the faint edges a whitened rule leaves
    # behind otherwise read as letters ("11" beside a removed rule came out as "at").
    grey[grey >= 170] = 255
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n <= 1:
        return Image.fromarray(grey)
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    big = (h > 0.5 * dpi) | (w > 1.0 * dpi)
    big[0] = False  # the background
    if big.any():
        grey[big[labels]] = 255
    return Image.fromarray(grey)
