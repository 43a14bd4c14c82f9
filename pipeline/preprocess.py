"""Page preparation: blank-page detection and deskewing, on greyscale images.

A 300 dpi page is 8.7 Mpx: whole-page work is done with OpenCV box filters and blob stats, and
a numpy lookup of blob labels over the page (12 ms) only where it is needed.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np
from PIL import Image

from pipeline.masks import components, dense_cover, per_blob, runs, without_dust

__all__ = ["clean_for_ocr", "deskew", "is_blank"]


def _grey(img: Image.Image) -> np.ndarray:
    """The page as an 8-bit grey array (read-only: copy it to draw on it)."""
    return np.asarray(img if img.mode == "L" else img.convert("L"))


def is_blank(img: Image.Image, dpi: int) -> bool:
    """A page with (almost) no ink once dust, specks and faint bleed-through are ignored.

    Ink is decided at full resolution (shrinking first greys thin print out of sight, and a
    one-line cover letter would pass for blank). Every blob of ink smaller than a millimetre each
    way is dust on the glass or a speck of toner, not print: even a full stop in 8 pt type sits
    beside letters that are larger. What remains is counted in 50 dpi cells; bleed-through from
    the other side is far lighter than ink and never counts.
    """
    ink = without_dust(_grey(img) < 150, max(2, round(dpi / 25.4)))  # 1 mm; shared with the ink measurements
    cells_img = Image.fromarray(ink.view(np.uint8) * 255)
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


def estimate_skew(img: Image.Image, dpi: int, max_angle: float = 5.0) -> float:
    """Angle in degrees (counter-clockwise) that makes the text lines horizontal.

    A projection-profile search: rows of text give the sharpest row-sum profile when level.
    """
    # Binarise at full resolution, then shrink: shrinking first greys thin strokes out of sight
    # and leaves too little ink for a clear profile.
    ink = Image.fromarray(cv2.threshold(_grey(img), 159, 255, cv2.THRESH_BINARY_INV)[1])  # grey < 160
    scale = min(1.0, 100 / max(dpi, 1))
    if scale < 1.0:
        ink = ink.resize((max(1, int(ink.width * scale)), max(1, int(ink.height * scale))), Image.BOX)
    base = ink.point(lambda v: 255 if v > 40 else 0)

    @functools.cache  # the fine search starts, ends and centres on angles the coarse one scored
    def score(angle: float) -> float:
        # PIL's nearest-neighbour turn of the small image is cheap (1 ms), and turning any other
        # way rounds pixels differently, which tips near-equal angles the other way.
        turned = np.asarray(base.rotate(angle, resample=Image.NEAREST, expand=False, fillcolor=0))
        rows = cv2.reduce(turned, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel() // 255
        return float(np.square(np.diff(rows.astype(np.float64))).sum())

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
    """Return the page turned level, and the angle it was turned by (0 when already level).

    PIL's bicubic turn is the slow part (0.2 s at 300 dpi), but OpenCV's, ten times faster, puts
    stroke edges a few grey levels apart, and tesseract reads many words differently for it.
    """
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
    return runs(mask, max(20, int(0.5 * dpi)), axis=1), runs(mask, max(12, int(0.3 * dpi)), axis=0)


def _broken_rules(labels: np.ndarray, stats: np.ndarray, dpi: int) -> np.ndarray:
    """Rules that are not one stroke: dashed or dotted ones, and solid ones a 150 dpi bitonal scan
    broke into pieces. Left in, tesseract reads them as a line of letters ("nn bn öre ere") that
    splits the table row beside them.

    Horizontal: thin blobs (dashes, dots) lined up on a row, covering at least a third of an inch
    of it over any inch. Vertical: thin upright dashes covering most of half an inch (stacked
    digits "1" in a quantity column cover less). Glyphs are thicker than a rule and stay.
    """
    if min(labels.shape) < dpi:
        return np.zeros(labels.shape, dtype=bool)
    thin = max(2, int(0.025 * dpi))
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    keep = np.zeros(len(w), dtype=bool)
    for axis, length, density in ((1, dpi, 0.35), (0, dpi // 2, 0.45)):
        start, across, along = (top, h, w) if axis == 1 else (left, w, h)
        small = across <= thin
        counted = small if axis == 1 else small & (along >= 2 * across)
        small[0] = counted[0] = False  # the background
        lines = np.flatnonzero(_line_bound(counted, start, across, along, labels.shape[1 - axis]) >= int(density * length))
        if len(lines) == 0:  # no row (column) holds enough of them: the usual page
            continue
        # Only the stretch of the page around those lines can hold such a rule, or be covered by
        # one (at most `thin` away); the rest need not be looked up blob by blob.
        lo, hi = max(0, lines[0] - thin - 1), lines[-1] + thin + 2
        part = labels[lo:hi] if axis == 1 else labels[:, lo:hi]
        m = counted[part]
        band = m.copy()  # a rule one pixel off straight still counts as one row
        if axis == 1:
            band[1:] |= m[:-1]
            band[:-1] |= m[1:]
        else:
            band[:, 1:] |= m[:, :-1]
            band[:, :-1] |= m[:, 1:]
        reach = np.ones((2 * thin + 1, 1) if axis == 1 else (1, 2 * thin + 1), np.uint8)
        cover = cv2.dilate(dense_cover(band, length, density, axis).view(np.uint8), reach).view(bool)
        hit = np.zeros(len(w), dtype=bool)
        hit[part[cover]] = True
        keep |= hit & small
    return per_blob(keep, labels, stats)


def _line_bound(counted: np.ndarray, start: np.ndarray, across: np.ndarray, along: np.ndarray, lines: int) -> np.ndarray:
    """For each row (or column) of the page, at most how many pixels the counted blobs put in it
    or the lines either side: the sum of their lengths along it.

    Found from the blob stats alone, it rules out most pages without looking at a pixel.
    """
    first = np.clip(start[counted] - 1, 0, lines)
    past = np.clip(start[counted] + across[counted] + 1, 0, lines)
    length = along[counted].astype(np.int64)
    edges = np.bincount(first, length, lines + 1) - np.bincount(past, length, lines + 1)
    return np.cumsum(edges)[:lines]


def clean_for_ocr(img: Image.Image, dpi: int) -> Image.Image:
    """The copy of a page tesseract reads: rules, signatures, stamp frames and codes taken out.

    Any connected blob taller or wider than printed glyphs ever are (a signature's strokes, a
    stamp's frame, a QR code, a table's vertical grid) is whitened, and so are the rules:
    tesseract otherwise merges them with the label beside them and reads neither. Blobs are
    found before the vertical rules go, which would cut a signature into glyph-sized pieces.
    Field checks still look at the page as scanned.
    """
    grey = _grey(img).copy()
    mask = grey < 160
    horizontal, vertical = _rules(mask, dpi)
    n, labels, stats = components(mask & ~_grow(horizontal))
    if n > 1:
        w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
        big = (h > 0.5 * dpi) | (w > 1.0 * dpi)
        big[0] = False  # the background
        if big.any():
            # Take the blob's grey halo and its stray bits (an i-dot, a t-bar) with it: left
            # behind, their ghost still made tesseract drop the label beside the signature.
            gone = per_blob(big, labels, stats).view(np.uint8)
            reach = max(3, int(0.05 * dpi)) | 1
            grey[cv2.dilate(gone, np.ones((reach, reach), np.uint8)).view(bool)] = 255
    grey[_grow(horizontal | vertical)] = 255
    # Paper is white: scanner haze, bleed-through and the faint edges a whitened rule leaves
    # behind otherwise read as letters ("11" beside a removed rule came out as "at").
    cv2.max(grey, cv2.threshold(grey, 169, 255, cv2.THRESH_BINARY)[1], dst=grey)  # 170 and lighter: 255
    # What is left of rules that were never one stroke (dashed, dotted, or broken by the scan)
    # stands apart only now that the solid rules, and the blobs they touched, are gone.
    n, labels, stats = components(grey < 160)
    if n > 1:
        broken = _broken_rules(labels, stats, dpi)
        if broken.any():
            grey[cv2.dilate(broken.view(np.uint8), np.ones((5, 5), np.uint8)).view(bool)] = 255
    return Image.fromarray(grey)
