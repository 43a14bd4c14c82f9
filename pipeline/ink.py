"""Ink in a region of the page: ruled boxes found and taken away, printed text masked, noise ignored."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from pipeline.layout import Box
from pipeline.masks import runs, without_dust

__all__ = ["InkReading", "find_ruled_box", "find_ruled_boxes", "has_writing_line", "measure_ink", "rule_mask"]

INK = 140
RULE_INK = 185


def rule_mask(mask: np.ndarray, unit: float) -> np.ndarray:
    """Pixels that belong to long straight horizontal or vertical rules (box borders, underlines)."""
    h_len = max(8, int(3.0 * unit))
    v_len = max(8, int(2.0 * unit))
    rules = runs(mask, h_len, axis=1) | runs(mask, v_len, axis=0)
    # Thicken by one pixel: antialiased rule edges would otherwise be left behind as "ink".
    grown = rules.copy()
    grown[1:, :] |= rules[:-1, :]
    grown[:-1, :] |= rules[1:, :]
    grown[:, 1:] |= rules[:, :-1]
    grown[:, :-1] |= rules[:, 1:]
    return grown


def has_writing_line(grey: np.ndarray, region: Box, unit: float) -> bool:
    """Does a horizontal rule at least 4 text heights long run through `region` (a line to write on)?"""
    x0, y0, x1, y1 = _clip(region, grey.shape)
    if x1 - x0 < 4 * unit or y1 <= y0:
        return False
    return bool(runs(grey[y0:y1, x0:x1] < RULE_INK, int(4 * unit), axis=1).any())


def _clip(box: Box, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    h, w = shape
    x0 = int(max(0, min(w, box.left)))
    x1 = int(max(0, min(w, box.right)))
    y0 = int(max(0, min(h, box.top)))
    y1 = int(max(0, min(h, box.bottom)))
    return x0, y0, x1, y1


def _side(mask: np.ndarray, x: int, top: int, bottom: int, unit: float) -> bool:
    """Is there a vertical rule near column x covering (nearly) all rows from top to bottom?"""
    lo, hi = max(0, int(x - unit)), min(mask.shape[1], int(x + unit) + 1)
    if hi <= lo or bottom <= top:
        return False
    rows = mask[top : bottom + 1, lo:hi].any(axis=1)
    return float(rows.mean()) >= 0.9


def find_ruled_box(grey: np.ndarray, window: Box, unit: float) -> Box | None:
    """Find the largest ruled rectangle (a signature box) inside `window`, or None."""
    boxes = find_ruled_boxes(grey, window, unit)
    return boxes[0] if boxes else None


def find_ruled_boxes(grey: np.ndarray, window: Box, unit: float) -> list[Box]:
    """Every ruled rectangle inside `window`, largest first."""
    x0, y0, x1, y1 = _clip(window, grey.shape)
    if x1 - x0 < 4 * unit or y1 - y0 < 2 * unit:
        return []
    # Rules are thin: blurred and JPEG-compressed, a 2 px line is mid-grey, lighter than text ink.
    mask = grey[y0:y1, x0:x1] < RULE_INK
    min_w = int(5 * unit)
    min_h = int(2.0 * unit)
    horiz = runs(mask, min_w, axis=1)
    vert = runs(mask, min_h, axis=0)
    rows = np.flatnonzero(horiz.sum(axis=1) >= min_w)
    cols = np.flatnonzero(vert.sum(axis=0) >= min_h)
    if len(rows) < 2 or len(cols) < 2:
        return []
    # Group adjacent rows/cols into single rules (a rule is several pixels thick).
    def groups(idx: np.ndarray) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        start = prev = int(idx[0])
        for v in idx[1:]:
            v = int(v)
            if v - prev > 2:
                out.append((start, prev))
                start = v
            prev = v
        out.append((start, prev))
        return out

    hr, vr = groups(rows), groups(cols)
    found: list[tuple[float, Box]] = []
    for i, (ta, tb) in enumerate(hr):
        for ba, bb in hr[i + 1 :]:
            if ba - tb < min_h:
                continue
            top_x = np.flatnonzero(horiz[ta : tb + 1].any(axis=0))
            bot_x = np.flatnonzero(horiz[ba : bb + 1].any(axis=0))
            if len(top_x) == 0 or len(bot_x) == 0:
                continue
            left = max(top_x[0], bot_x[0])
            right = min(top_x[-1], bot_x[-1])
            if right - left < min_w:
                continue
            # Rules down both ends, each spanning the height, make it a box: not two unrelated
            # underlines, nor an underline and a box with signature strokes between them.
            if not (_side(mask, left, ta, bb, unit) and _side(mask, right, ta, bb, unit)):
                continue
            area = float((right - left) * (ba - tb))
            found.append((area, Box(x0 + left, y0 + ta, x0 + right, y0 + bb)))
    return [b for _, b in sorted(found, key=lambda t: -t[0])]


@dataclass(frozen=True, slots=True)
class InkReading:
    fraction: float  # share of the region's pixels that are ink (rules and masked text excluded)
    extent: float  # width of the inked area in text units
    pixels: int

    @property
    def present(self) -> bool:
        return self.pixels > 0 and self.fraction >= 0.002 and self.extent >= 1.0


def measure_ink(grey: np.ndarray, region: Box, unit: float, exclude: Iterable[Box] = ()) -> InkReading:
    """How much ink lies in `region`, not counting rules, excluded boxes (printed words) or specks."""
    x0, y0, x1, y1 = _clip(region, grey.shape)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return InkReading(0.0, 0.0, 0)
    mask = grey[y0:y1, x0:x1] < INK
    mask &= ~rule_mask(mask, unit)
    for b in exclude:
        bx0, by0, bx1, by1 = _clip(b, grey.shape)
        mask[max(0, by0 - y0) : max(0, by1 - y0), max(0, bx0 - x0) : max(0, bx1 - x0)] = False
    # Drop dust and specks: a blob smaller than 0.4 text height each way (about a millimetre and
    # a half) is not a stroke; nor is a flat sliver a fifth of a text height high, what a
    # bitonal scan leaves of a rule's frayed edge once the rule itself is taken away.
    mask = without_dust(mask, max(3, round(0.4 * unit)), max(2, round(0.2 * unit)))
    pixels = int(mask.sum())
    if pixels == 0:
        return InkReading(0.0, 0.0, 0)
    cols = np.flatnonzero(mask.any(axis=0))
    # Extent ignores stray outliers: the 2nd to 98th percentile of inked columns.
    lo, hi = np.percentile(cols, [2, 98])
    return InkReading(pixels / mask.size, float(hi - lo) / max(unit, 1.0), pixels)
