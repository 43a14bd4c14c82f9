"""Ink in the signature box: strokes count; the box's ruling, noise and faint bleed-through do not."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from pipeline.ink import find_ruled_box, measure_ink
from pipeline.layout import Box
from pipeline.preprocess import deskew, estimate_skew, is_blank

UNIT = 40.0


def _page(signed: bool, noise: bool = True) -> np.ndarray:
    img = Image.new("L", (2480, 1200), 255)
    d = ImageDraw.Draw(img)
    d.rectangle((800, 300, 1800, 650), outline=0, width=3)
    if signed:
        pts = [(900 + i * 7, 480 + int(70 * math.sin(i / 6))) for i in range(110)]
        d.line(pts, fill=20, width=5)
    arr = np.asarray(img).astype(np.int16)
    if noise:
        rng = np.random.default_rng(1)
        arr = arr + rng.normal(0, 10, arr.shape).astype(np.int16)
        for _ in range(40):  # isolated specks
            y, x = rng.integers(310, 640), rng.integers(810, 1790)
            arr[y, x] = 0
    return np.clip(arr, 0, 255).astype(np.uint8)


def test_box_found_and_signature_seen() -> None:
    grey = _page(signed=True)
    box = find_ruled_box(grey, Box(600, 100, 2480, 900), UNIT)
    assert box is not None and abs(box.left - 800) < 6 and abs(box.bottom - 650) < 6
    inner = Box(box.left + 14, box.top + 14, box.right - 14, box.bottom - 14)
    assert measure_ink(grey, inner, UNIT).present


def test_empty_box_with_noise_is_empty() -> None:
    grey = _page(signed=False)
    box = find_ruled_box(grey, Box(600, 100, 2480, 900), UNIT)
    assert box is not None
    # Even counting the whole box, its own ruling is not ink.
    assert not measure_ink(grey, box, UNIT).present


def test_blank_page_with_bleed_through_is_blank() -> None:
    img = Image.new("L", (2480, 3508), 255)
    d = ImageDraw.Draw(img)
    for y in range(300, 3000, 60):  # faint mirrored text from the other side
        d.text((300, y), "Delivery note DN-2025-004817  Customer Nordic Timber AB", fill=215)
    rng = random.Random(3)
    for _ in range(300):
        d.point((rng.randrange(2480), rng.randrange(3508)), fill=0)
    assert is_blank(img.filter(ImageFilter.GaussianBlur(1)), 300)


def test_page_with_one_line_is_not_blank() -> None:
    img = Image.new("L", (2480, 3508), 255)
    ImageDraw.Draw(img).rectangle((300, 400, 1600, 440), fill=0)
    assert not is_blank(img, 300)


def test_deskew_finds_the_angle() -> None:
    img = Image.new("L", (1240, 1754), 255)
    d = ImageDraw.Draw(img)
    for y in range(200, 1500, 50):
        d.rectangle((150, y, 1050, y + 18), fill=0)
    tilted = img.rotate(2.0, fillcolor=255, resample=Image.BICUBIC)
    assert abs(estimate_skew(tilted, 150) + 2.0) <= 0.3
    level, angle = deskew(tilted, 150)
    assert abs(angle + 2.0) <= 0.3 and level.size == tilted.size


def test_a_page_with_one_line_of_thin_print_is_not_blank() -> None:
    from PIL import ImageFont

    img = Image.new("L", (2480, 3508), 255)
    font = ImageFont.truetype("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf", 42)
    ImageDraw.Draw(img).text((250, 400), "Please find enclosed our invoice for October.", font=font, fill=0)
    assert not is_blank(img, 300)


def _reading(grey: np.ndarray, words: list[str] = (), extra: tuple = ()):  # noqa: ANN202
    from pipeline.checks import PageReading
    from pipeline.document import Page, Word
    from pipeline.fields import PageFields
    from pipeline.layout import Layout

    ws = [Word(t, 200, 100 + 60 * i, 120, 40, 95.0, i) for i, t in enumerate(words)] + list(extra)
    layout = Layout(ws, grey.shape[1], grey.shape[0])
    return PageReading(Page(1), layout, PageFields(), grey)


@pytest.mark.parametrize("signed", [True, False])
def test_an_unread_signature_label_falls_back_to_the_sheets_empty_ruled_box(signed: bool) -> None:
    """GIVEN a page whose signature label OCR dropped WHEN it is checked THEN the ruled box decides."""
    from pipeline.checks import check_signature

    result = check_signature([_reading(_page(signed), ["Date:", "2026-10-20"])])
    assert (result.status.value == "ok") is signed
    assert "ruled box" in (result.note or "")


def test_a_signature_read_as_unsure_letters_still_leaves_the_box_a_signature_box() -> None:
    """The strokes read as "LU" (50): not printed words, so the box is still the one to sign in."""
    from pipeline.checks import check_signature
    from pipeline.document import Word

    stroke_words = (Word("LU", 900, 440, 200, 60, 50.0, 9),)
    result = check_signature([_reading(_page(True), ["Date:", "2026-10-20"], stroke_words)])
    assert result.status.value == "ok" and "ruled box" in (result.note or "")


def test_a_signature_running_over_the_border_still_counts() -> None:
    """A big hand: the strokes cross the box's top and right rules and end outside it."""
    img = Image.new("L", (2480, 1200), 255)
    d = ImageDraw.Draw(img)
    d.rectangle((800, 300, 1800, 650), outline=0, width=3)
    pts = [(1300 + i * 9, 430 + int(190 * math.sin(i / 5))) for i in range(90)]  # from x 1300 to 2100
    d.line(pts, fill=20, width=5)
    grey = np.asarray(img)
    box = find_ruled_box(grey, Box(600, 100, 2480, 900), UNIT)
    assert box is not None and abs(box.right - 1800) < 6  # the strokes do not hide the box
    inner = Box(box.left + 14, box.top + 14, box.right - 14, box.bottom - 14)
    assert measure_ink(grey, inner, UNIT).present


def test_another_fields_box_reaching_into_an_empty_value_is_not_writing() -> None:
    """An empty date, with the signature box of the next column reaching into the space below it."""
    from pipeline.checks import _ink_near
    from pipeline.fields import ValueRegion
    from pipeline.layout import LabelHit

    img = Image.new("L", (2480, 1200), 255)
    d = ImageDraw.Draw(img)
    d.rectangle((900, 380, 1850, 700), outline=0, width=3)  # the signature box, signed
    d.line([(1000 + i * 7, 420 + int(60 * math.sin(i / 6))) for i in range(100)], fill=20, width=5)
    reading = _reading(np.asarray(img), ["Date:"])
    label = LabelHit("time", "date", 0, 0, 0, Box(200, 100, 320, 140), True)
    right, below = Box(330, 80, 1600, 160), Box(160, 150, 1300, 450)
    value = ValueRegion(label, (), (), Box.around([right, below]), "empty", (right, below))
    assert not _ink_near(reading, value)
    d.line([(300, 250), (420, 200), (520, 260), (640, 210)], fill=20, width=5)  # a date written by hand
    assert _ink_near(_reading(np.asarray(img), ["Date:"]), value)


def test_dashed_dotted_and_broken_rules_leave_the_ocr_copy_but_glyphs_stay() -> None:
    """The OCR copy loses rules that were never one stroke, and keeps text, hyphens and a column of ones."""
    from pipeline.preprocess import clean_for_ocr

    img = Image.new("L", (2480, 1000), 255)
    d = ImageDraw.Draw(img)
    for x in range(200, 2200, 30):  # a dashed rule: 18 px dashes, 12 px gaps
        d.line((x, 200, x + 18, 200), fill=0, width=3)
    for x in range(200, 2200, 9):  # a dotted rule
        d.rectangle((x, 300, x + 3, 303), fill=0)
    for x in range(200, 2200, 70):  # a solid rule broken by the scan every 70 px
        d.line((x, 400, x + 64, 400), fill=0, width=3)
    for x in range(300, 1200, 60):  # "words": glyph-sized blobs with a hyphen between some
        d.rectangle((x, 560, x + 34, 600), fill=0)
        d.rectangle((x + 40, 580, x + 52, 584), fill=0)
    for y in range(650, 950, 75):  # a quantity column of ones, one under the other
        d.rectangle((2000, y, 2005, y + 32), fill=0)
    out = np.asarray(clean_for_ocr(img, 300)) < 128
    for y in (200, 300, 400):
        assert out[y - 6 : y + 6, :].sum() == 0, y
    assert out[560:601, 300:1200].sum() > 0.9 * (np.asarray(img)[560:601, 300:1200] < 128).sum()
    assert out[650:950, 1995:2010].sum() == (np.asarray(img)[650:950, 1995:2010] < 128).sum()


def test_a_hair_read_as_one_letter_under_an_empty_time_label_leaves_the_time_missing() -> None:
    """An empty date field with a hair in it that tesseract read "t" (4 px wide, sure of it): no
    date is written, so the time is missing and the sheet must be chased, not merely reviewed.
    A hand-written date there, read as nothing sensible, is unreadable."""
    from pipeline.checks import check_time
    from pipeline.document import Word
    from pipeline.fields import ValueRegion
    from pipeline.layout import LabelHit

    img = Image.new("L", (2480, 1200), 255)
    d = ImageDraw.Draw(img)
    d.line([(400, 205), (402, 221)], fill=0, width=2)  # the hair
    reading = _reading(np.asarray(img), ["Date:"])
    label = LabelHit("time", "date", 0, 0, 0, Box(200, 100, 320, 140), True)
    hair = Word("t", 399, 204, 4, 17, 80.0, 1)
    value = ValueRegion(label, (hair,), ((hair,),), Box(160, 150, 1300, 260), "below")
    assert check_time(reading, value, "DMY").status.value == "missing"
    scrawl = Word("Tt", 300, 190, 200, 50, 40.0, 1)
    written = ValueRegion(label, (scrawl,), ((scrawl,),), Box(160, 150, 1300, 260), "below")
    assert check_time(reading, written, "DMY").status.value == "unreadable"
