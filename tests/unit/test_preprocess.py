"""Page preparation: box-filter windows as plainly defined, the deskew turn, blob labels past 16 bits, dashed rules."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipeline.masks import dense_cover
from pipeline.preprocess import clean_for_ocr, deskew, is_blank


def _dense_cover_by_hand(mask: np.ndarray, length: int, density: float, axis: int) -> np.ndarray:
    """Each pixel's window of `length` along `axis` (OpenCV's box: `length // 2` before the pixel),
    when at least `density` ink, marks the window mirrored about the pixel: the window itself for
    odd lengths, one pixel on for even ones (where OpenCV's box and dilation anchors differ)."""
    m = mask if axis == 1 else mask.T
    out = np.zeros(m.shape, dtype=bool)
    for r in range(m.shape[0]):
        for c in range(m.shape[1]):
            lo = c - length // 2
            if m[r, max(0, lo) : max(0, lo + length)].sum() >= int(density * length):
                hi = c + length // 2 + 1
                out[r, max(0, hi - length) : max(0, hi)] = True
    return out if axis == 1 else out.T


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("length", [2, 5, 8])
def test_dense_cover_marks_exactly_the_windows_that_are_dense_enough(axis: int, length: int) -> None:
    rng = np.random.default_rng(length + 10 * axis)
    mask = rng.random((23, 31)) < 0.6
    for density in (0.3, 0.6, 0.95):
        assert np.array_equal(dense_cover(mask, length, density, axis), _dense_cover_by_hand(mask, length, density, axis))


def test_deskew_turns_the_page_level_not_further() -> None:
    """The page comes back where it was before it was tilted: turned the way PIL turns, about its centre."""
    img = Image.new("L", (1240, 1754), 255)
    d = ImageDraw.Draw(img)
    for y in range(200, 1500, 50):
        d.rectangle((150, y, 1050, y + 18), fill=0)
    level, angle = deskew(img.rotate(-1.5, fillcolor=255, resample=Image.BICUBIC), 150)
    assert abs(angle - 1.5) <= 0.1
    before, after = np.asarray(img) < 128, np.asarray(level) < 128
    assert (before != after)[100:-100, 100:-100].sum() < 0.03 * before.sum()


def test_a_page_of_more_specks_than_16_bit_labels_hold_is_still_read() -> None:
    """90,000 separate specks (a noisy scan): dust, so blank; a line of print on it is not."""
    noise = np.full((1200, 1200), 255, np.uint8)
    noise[::4, ::4] = 0
    assert is_blank(Image.fromarray(noise), 300)
    noise[600:640, 100:1100] = 0
    assert not is_blank(Image.fromarray(noise), 300)


def test_dashed_vertical_rules_leave_the_ocr_copy_even_at_the_page_edge() -> None:
    img = Image.new("L", (1000, 1200), 255)
    d = ImageDraw.Draw(img)
    for y in range(100, 1100, 13):  # upright dashes 10 px long, 3 px wide
        d.rectangle((500, y, 502, y + 9), fill=0)
        d.rectangle((997, y, 999, y + 9), fill=0)
    for x in range(100, 900, 30):  # and a dashed rule along the top edge
        d.rectangle((x, 0, x + 18, 2), fill=0)
    d.rectangle((200, 500, 240, 540), fill=0)  # a glyph-sized blob stays
    out = np.asarray(clean_for_ocr(img, 300)) < 128
    assert out[:, 490:515].sum() == 0 and out[:, 990:].sum() == 0 and out[:8].sum() == 0
    assert out[500:541, 200:241].all()
