"""Operations on boolean page masks (ink, rules), shared by the page cleaning and the ink measurements.

OpenCV box filters and blob statistics: a 300 dpi page is 8.7 Mpx.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["components", "dense_cover", "per_blob", "runs", "without_dust"]


def dense_cover(mask: np.ndarray, length: int, density: float, axis: int = 1) -> np.ndarray:
    """True where a pixel lies in a window of `length` pixels along `axis` that is at least
    `density` ink (the pixel itself may be blank)."""
    if length <= 1 or mask.shape[axis] < length:
        return np.zeros(mask.shape, dtype=bool)
    if axis == 0:  # columns are rows of the transposed mask (OpenCV transposes a page in 1 ms)
        return cv2.transpose(_u8(dense_cover(cv2.transpose(_u8(mask)).view(bool), length, density))).view(bool)
    ink = _u8(mask)
    need = int(density * length)
    out = np.zeros(mask.shape, dtype=bool)
    # Only a row holding `need` ink pixels can hold a full window: on a page that is a fifth of
    # the rows or fewer, so the box filters run on those rows alone.
    rows = np.flatnonzero(_row_sums(ink) >= need)
    if len(rows) == 0:
        return out
    # 16-bit sums: a window never holds more than `length` (< 65536) pixels, and they are exact.
    counts = cv2.boxFilter(ink[rows], cv2.CV_16U, (length, 1), normalize=False, borderType=cv2.BORDER_CONSTANT)
    full = (counts >= need).view(np.uint8)
    hit = np.flatnonzero(_row_sums(full))  # the rows that do hold one: fewer again
    if len(hit) == 0:
        return out
    # Each full window covers `length` pixels around its centre (for an even length one pixel
    # further on than the box filter counted them). Summing the full windows over the same box
    # marks the pixels that dilating with the box would, in a third of the time on a long kernel.
    cover = cv2.boxFilter(full[hit], cv2.CV_16U, (length, 1), normalize=False, borderType=cv2.BORDER_CONSTANT)
    out[rows[hit]] = cover > 0
    return out


def _row_sums(img: np.ndarray) -> np.ndarray:
    """The sum of each row of an 8-bit image."""
    return cv2.reduce(img, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel()


def _u8(mask: np.ndarray) -> np.ndarray:
    """A boolean mask as the 0/1 bytes OpenCV takes, without a copy."""
    return np.asarray(mask, dtype=bool).view(np.uint8)


def components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """The 8-connected blobs of `mask`: their number (the background is blob 0), the label of each
    pixel and OpenCV's stats (left, top, width, height, area) per blob.

    Labels are 16-bit when there are fewer than 65535 blobs: OpenCV then labels a 300 dpi page and
    measures its blobs three times faster (18 ms against 60). A page of noise needs 32 bits.
    """
    try:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(_u8(mask), connectivity=8, ltype=cv2.CV_16U)
    except cv2.error:  # too many blobs for 16-bit labels
        n, labels, stats, _ = cv2.connectedComponentsWithStats(_u8(mask), connectivity=8, ltype=cv2.CV_32S)
    return n, labels, stats


def per_blob(table: np.ndarray, labels: np.ndarray, stats: np.ndarray) -> np.ndarray:
    """`table[labels]`: each pixel gets its blob's entry (0 where the table holds none).

    Looked up only inside the box around the blobs with an entry: a lookup over the whole label
    image costs 12 ms at 300 dpi, and the blobs wanted (a signature, a dashed rule) are often few.
    """
    out = np.zeros(labels.shape, dtype=table.dtype)
    ids = np.flatnonzero(table)
    if len(ids) == 0:
        return out
    left, top = stats[ids, cv2.CC_STAT_LEFT], stats[ids, cv2.CC_STAT_TOP]
    x0, y0 = left.min(), top.min()
    x1, y1 = (left + stats[ids, cv2.CC_STAT_WIDTH]).max(), (top + stats[ids, cv2.CC_STAT_HEIGHT]).max()
    out[y0:y1, x0:x1] = table[labels[y0:y1, x0:x1]]
    return out


def runs(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """True where a pixel lies on a straight run of at least `length` ink pixels along `axis`.

    A run is accepted with up to 5% gaps so that a scanned, slightly broken rule still counts.
    """
    return dense_cover(mask, length, 0.95, axis) & mask


def without_dust(mask: np.ndarray, size: int, flat: int = 0) -> np.ndarray:
    """`mask` without the connected blobs under `size` pixels both wide and high, or under `flat` high."""
    n, labels, stats = components(mask)
    if n <= 1:
        return mask
    w, h = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    keep = ((w >= size) | (h >= size)) & (h >= flat)
    keep[0] = False
    return per_blob(keep, labels, stats)
