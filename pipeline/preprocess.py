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
    """A page with (almost) no ink once dust, specks and faint bleed-through are ignored.

    Ink is decided at full resolution (shrinking first greys thin print out of sight, and a
    one-line cover letter would pass for blank). Every blob of ink smaller than a millimetre each
    way is dust on the glass or a speck of toner, not print: even a full stop in 8 pt type sits
    beside letters that are larger. What remains is counted in 50 dpi cells; bleed-through from
    the other side is far lighter than ink and never counts.
    """
    from pipeline.ink import _without_dust  # the dust rule is shared with the ink measurements

    ink = _without_dust(np.asarray(img.convert("L")) < 150, max(2, round(dpi / 25.4)))  # 1 mm
    ink = ink.astype(np.uint8) * 255
    cells_img = Image.fromarray(ink)
    scale = min(1.0, 50 / max(dpi, 1))
    if scale < 1.0:
        size = (max(1, int(ink.shape[1] * scale)), max(1, int(ink.shape[0] * scale)))
        cells_img = cells_img.resize(size, Image.BOX)
    cells = np.asarray(cells_img) > 25  # a cell holding ~10% ink
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


def _grow(mask: np.ndarray, px: int = 2) -> np.ndarray:
    grown = mask.copy()
    for s in range(1, px + 1):
        grown[s:, :] |= mask[:-s, :]
        grown[:-s, :] |= mask[s:, :]
        grown[:, s:] |= mask[:, :-s]
        grown[:, :-s] |= mask[:, s:]
    return grown


def _rules(mask: np.ndarray, dpi: int) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal rules (half an inch or longer) and vertical ones (0.3 inch or longer)."""
    from pipeline.ink import _runs  # the run finder is shared with the ink measurements

    return _runs(mask, max(20, int(0.5 * dpi)), axis=1), _runs(mask, max(12, int(0.3 * dpi)), axis=0)


def remove_rules(img: Image.Image, dpi: int) -> Image.Image:
    """Whiten long straight rules (table grids, boxes, underlines) so tesseract reads cell text.

    Tesseract's page segmentation drops whole table columns when the grid lines are left in;
    taken out, the cells read as ordinary text. Only OCR sees this copy: barcodes and the
    signature check look at the page as scanned.
    """
    grey = np.asarray(img.convert("L"))
    horizontal, vertical = _rules(grey < 160, dpi)
    rules = horizontal | vertical
    if not rules.any():
        return img
    out = grey.copy()
    out[_grow(rules)] = 255
    return Image.fromarray(out)


def _broken_rules(labels: np.ndarray, w: np.ndarray, h: np.ndarray, dpi: int) -> np.ndarray:
    """Rules that are not one stroke: dashed or dotted ones, and solid ones a 150 dpi bitonal scan
    broke into pieces. Left in, tesseract reads them as a line of letters ("nn bn öre ere") that
    splits the table row beside them.

    Horizontal: thin blobs (dashes, dots) lined up on a row, covering at least a third of an inch
    of it over any inch. Vertical: thin upright dashes covering most of half an inch (stacked
    digits "1" in a quantity column cover less). Glyphs are thicker than a rule and stay.
    """
    import cv2

    from pipeline.ink import dense_cover

    if labels.max() == 0 or min(labels.shape) < dpi:
        return np.zeros(labels.shape, dtype=bool)
    thin = max(2, int(0.025 * dpi))
    out = np.zeros(labels.shape, dtype=bool)
    for axis, length, density in ((1, dpi, 0.35), (0, dpi // 2, 0.45)):
        across, along = (h, w) if axis == 1 else (w, h)
        small = across <= thin
        counted = small if axis == 1 else small & (along >= 2 * across)
        small[0] = counted[0] = False
        m = counted[labels] if axis == 1 else counted[labels].T
        band = m.copy()  # a rule one pixel off straight still counts as one row
        band[1:] |= m[:-1]
        band[:-1] |= m[1:]
        cover = cv2.dilate(dense_cover(band, length, density).astype(np.uint8), np.ones((2 * thin + 1, 1), np.uint8))
        cover = cover.astype(bool) if axis == 1 else cover.astype(bool).T
        ids = np.unique(labels[cover & small[labels]])
        keep = np.zeros(len(w), dtype=bool)
        keep[ids] = True
        keep[0] = False
        out |= keep[labels]
    return out


def clean_for_ocr(img: Image.Image, dpi: int) -> Image.Image:
    """The copy of a page tesseract reads: rules, signatures, stamp frames and codes taken out.

    Any connected blob taller or wider than printed glyphs ever are (a signature's strokes, a
    stamp's frame, a QR code, a table's vertical grid) is whitened, and so are the rules:
    tesseract otherwise merges them with the label beside them and reads neither. Blobs are
    found before the vertical rules go, which would cut a signature into glyph-sized pieces.
    Field checks still look at the page as scanned.
    """
    import cv2

    grey = np.asarray(img.convert("L")).copy()
    mask = grey < 160
    horizontal, vertical = _rules(mask, dpi)
    ink = (mask & ~_grow(horizontal)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    if n > 1:
        w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        big = (h > 0.5 * dpi) | (w > 1.0 * dpi)
        big[0] = False  # the background
        if big.any():
            # Take the blob's grey halo and its stray bits (an i-dot, a t-bar) with it: left
            # behind, their ghost still made tesseract drop the label beside the signature.
            gone = big[labels].astype(np.uint8)
            reach = max(3, int(0.05 * dpi)) | 1
            grey[cv2.dilate(gone, np.ones((reach, reach), np.uint8)).astype(bool)] = 255
    grey[_grow(horizontal | vertical)] = 255
    # Paper is white: scanner haze, bleed-through and the faint edges a whitened rule leaves
    # behind otherwise read as letters ("11" beside a removed rule came out as "at").
    grey[grey >= 170] = 255
    # What is left of rules that were never one stroke (dashed, dotted, or broken by the scan)
    # stands apart only now that the solid rules, and the blobs they touched, are gone.
    n, labels, stats, _ = cv2.connectedComponentsWithStats((grey < 160).astype(np.uint8), connectivity=8)
    if n > 1:
        broken = _broken_rules(labels, stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT], dpi)
        if broken.any():
            grey[cv2.dilate(broken.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)] = 255
    return Image.fromarray(grey)
