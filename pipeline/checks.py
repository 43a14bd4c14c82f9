"""Field checks: each required field ends `ok`, `unreadable` or `missing` (SHEET_FORMAT.md)."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pipeline.dates import find_datetime, is_plausible, mend_year
from pipeline.document import FieldResult, FieldStatus, Page, Word
from pipeline.fields import PageFields, ValueRegion
from pipeline.ink import find_ruled_boxes, has_writing_line, measure_ink
from pipeline.layout import Box, Layout
from pipeline.ocr.tesseract import is_cjk

__all__ = ["PageReading", "check_customer", "check_items", "check_signature", "check_text_field", "check_time"]

OK, UNREADABLE, MISSING = FieldStatus.OK, FieldStatus.UNREADABLE, FieldStatus.MISSING
MIN_CONF = 55.0  # mean tesseract confidence below which a value is not trusted


@dataclass(slots=True)
class PageReading:
    """Everything read from one page, kept together for the checks."""

    page: Page
    layout: Layout
    found: PageFields
    grey: np.ndarray


def _printed(reading: PageReading) -> list[Box]:
    """Boxes of confidently read words: printed text, not ink someone added."""
    # A Chinese word is one character long; a Latin one of one letter is as likely a speck.
    return [
        Box(w.left, w.top, w.right, w.bottom)
        for line in reading.layout.lines
        for w in line.words
        if w.conf >= 70 and (len(w.text) >= 2 or (len(w.text) == 1 and is_cjk(w.text)))
    ]


def _ink_near(reading: PageReading, value: ValueRegion) -> bool:
    """Is something written where the value belongs, though nothing could be read there?"""
    unit = reading.layout.unit
    places = list(value.places) or [value.region]
    # A line to write on shows which side the value goes (right in one layout, below in the
    # other); without one, both are looked at. The other side may hold a box or strokes that
    # belong to the next field.
    lined = [p for p in places if has_writing_line(reading.grey, p, unit)]
    printed = _printed(reading)
    # The next field's label may stand inside the place (read with little confidence, or not at all
    # as a word): it is print, whatever tesseract thought of it.
    labels = [h.box for h in reading.found.labels]
    return any(
        measure_ink(reading.grey, p, unit, exclude=[*printed, *labels, *_foreign_boxes(reading, p)]).present
        for p in (lined or places)
    )


def _foreign_boxes(reading: PageReading, place: Box) -> list[Box]:
    """Ruled boxes that reach into `place` from outside it: another field's (a signature box beside
    an empty date in a two-column layout). What is inside them was not written for this field."""
    unit = reading.layout.unit
    width = reading.grey.shape[1]
    around = Box(0, place.top - 6 * unit, width, place.bottom + 14 * unit)  # the whole box must be in view
    out = []
    for b in find_ruled_boxes(reading.grey, around, unit):
        overlaps = b.left < place.right and b.right > place.left and b.top < place.bottom and b.bottom > place.top
        inside = place.left <= b.left and b.right <= place.right and place.top <= b.top and b.bottom <= place.bottom
        if overlaps and not inside:
            out.append(Box(b.left - 0.3 * unit, b.top - 0.3 * unit, b.right + 0.3 * unit, b.bottom + 0.3 * unit))
    return out


def _letters(text: str) -> int:
    return sum(ch.isalpha() for ch in text)


def check_text_field(reading: PageReading | None, value: ValueRegion | None) -> FieldResult:
    """A free-text value such as the receiver's name."""
    if reading is None or value is None:
        return FieldResult(MISSING, note="label not found")
    text = value.first_line.strip(" :：")
    if text and _letters(text) >= 2 and value.conf >= MIN_CONF:
        return FieldResult(OK, text, confidence=round(value.conf, 1))
    if text or _ink_near(reading, value):
        return FieldResult(UNREADABLE, text or None, confidence=round(value.conf, 1), note="could not be read with confidence")
    return FieldResult(MISSING, note="empty")


def check_customer(reading: PageReading | None, value: ValueRegion | None) -> FieldResult:
    result = check_text_field(reading, value)
    if result.status is OK:
        # The first line is the name; address lines below it are not part of it.
        name = re.sub(r"\s{2,}", " ", str(result.value)).strip()
        return FieldResult(OK, name, confidence=result.confidence)
    return result


def check_time(
    reading: PageReading | None, value: ValueRegion | None, date_order: str, now: datetime | None = None
) -> FieldResult:
    if reading is None or value is None:
        return FieldResult(MISSING, note="label not found")
    text = value.text
    parsed = find_datetime(text, date_order) if text else None
    if parsed is not None:
        if not is_plausible(parsed.value, now):
            mended = mend_year(parsed.value, now)
            if mended is None:
                return FieldResult(UNREADABLE, parsed.iso(), note=f"implausible date {parsed.text!r}")
            iso = dataclasses.replace(parsed, value=mended).iso()
            note = f"read {parsed.text!r} as {iso}: mended (a year one misread digit off)"
            return FieldResult(OK, iso, confidence=round(min(value.conf, 60.0), 1), note=note)
        if parsed.repaired:
            note = f"read {text!r} as {parsed.iso()}: mended (out-of-range digits, or a time's lost colon)"
            return FieldResult(OK, parsed.iso(), confidence=round(min(value.conf, 60.0), 1), note=note)
        return FieldResult(OK, parsed.iso(), confidence=round(value.conf, 1))
    if any(not _speck(w, reading.layout.unit) for w in value.words) or _ink_near(reading, value):
        return FieldResult(UNREADABLE, None, note=f"no date could be read in {text!r}" if text else "handwriting not read")
    return FieldResult(MISSING, note="empty")


def _speck(word: Word, unit: float) -> bool:
    """Marks, not writing: no letter or digit at all, or one that is too thin or too small for
    one (a hair read "t", 4 px wide) or read with no confidence. Only the ink check can then say
    that something is written."""
    letters = sum(ch.isalnum() for ch in word.text)
    return letters == 0 or (letters == 1 and (word.width < 0.3 * unit or word.height < 0.6 * unit or word.conf < 60))


def check_items(readings: list[PageReading]) -> FieldResult:
    # A "row" read with next to no confidence and no quantity is scanner dirt or a rule's
    # remains in an empty table, not an item line someone must look at.
    rows = [r for reading in readings for r in reading.found.items if r.qty is not None or r.conf >= 35]
    headers = [reading for reading in readings if reading.found.table_header is not None]
    good = [r for r in rows if r.qty is not None and (r.sku or r.description)]
    if good:
        value = [
            {"sku": r.sku, "description": r.description, "qty": r.qty}
            | ({"unit": r.unit} if r.unit else {})
            for r in good
        ]
        conf = sum(r.conf for r in good) / len(good)
        return FieldResult(OK, value, confidence=round(conf, 1))
    if rows:
        return FieldResult(UNREADABLE, None, note="item lines found but no quantity could be read")
    if headers:
        return FieldResult(MISSING, note="the item table is empty")
    return FieldResult(MISSING, note="no item table found")


def check_signature(readings: list[PageReading]) -> FieldResult:
    """Ink inside the signature box, not counting the box's ruling or printed words."""
    labelled = [
        (reading, value)
        for reading in readings
        for name, value in reading.found.values.items()
        if name == "signature"
    ]
    if not labelled:
        return _unlabelled_box(readings)
    for reading, value in labelled:
        unit = reading.layout.unit
        label = value.label.box
        h, w = reading.grey.shape
        windows = [
            # A box to the right (it may start above the label and reach well below it) ...
            Box(label.right, label.top - 14 * unit, w, label.bottom + 20 * unit),
            # ... or below it. OCR may have found only the end of a long label ("签字" of "客户签字"),
            # so the window reaches well left of it; the box must still lie under the label.
            Box(label.left - 10 * unit, label.bottom - 0.5 * unit, min(w, label.left + 0.7 * w), label.bottom + 22 * unit),
        ]
        printed = _printed(reading)
        for below, window in enumerate(windows):
            # A ruled box full of printed words is a table or an address panel, not where one signs.
            boxes = [b for b in find_ruled_boxes(reading.grey, window, unit) if _words_inside(printed, b) < 2]
            if below:
                boxes = [b for b in boxes if b.left <= label.right and b.right >= label.left]
            if not boxes:
                continue
            if _box_has_ink(reading, boxes[0]):
                return FieldResult(OK)
            return FieldResult(MISSING, note="the signature box is empty")
        # No ruled box: look where a signature line would be, right of or below the label.
        region = Box(label.right + 0.5 * unit, label.top - 2 * unit, min(w, label.right + 16 * unit), label.bottom + 3 * unit)
        below = Box(label.left, label.bottom + 0.3 * unit, min(w, label.left + 16 * unit), label.bottom + 6 * unit)
        for r in (region, below):
            if measure_ink(reading.grey, r, unit, exclude=_printed(reading)).present:
                return FieldResult(OK, note="no ruled box; ink found beside the label")
    return FieldResult(MISSING, note="no ink where the signature belongs")


def _box_has_ink(reading: PageReading, box: Box) -> bool:
    """Ink inside a ruled box, its ruling and any printed caption in it left out."""
    unit = reading.layout.unit
    inset = 0.35 * unit
    inner = Box(box.left + inset, box.top + inset, box.right - inset, box.bottom - inset)
    return measure_ink(reading.grey, inner, unit, exclude=_label_boxes(reading, inner)).present


def _unlabelled_box(readings: list[PageReading]) -> FieldResult:
    """The signature label was not read (a short label alone on its line is sometimes dropped by
    tesseract): a sheet's one ruled box with no printed word in it, below its item table, is where
    one signs."""
    for reading in readings:
        unit = reading.layout.unit
        h, w = reading.grey.shape
        header = reading.found.table_header
        top = header.bottom if header is not None else 0.0
        rows = [r.qty_box for r in reading.found.items if r.qty_box is not None]
        if rows:
            top = max(top, max(b.bottom for b in rows))
        # Printed words, read sure: a signature's strokes read as letters ("LU", 50) do not count.
        words = _printed(reading)
        boxes = [
            b for b in find_ruled_boxes(reading.grey, Box(0, top, w, h), unit)
            if b.right - b.left >= 8 * unit and b.bottom - b.top >= 1.5 * unit and _words_inside(words, b) == 0
        ]
        if boxes:
            if _box_has_ink(reading, boxes[0]):
                return FieldResult(OK, note="no signature label read; ink in the sheet's empty ruled box")
            return FieldResult(MISSING, note="no signature label read; the sheet's ruled box is empty")
    return FieldResult(MISSING, note="no signature label found")


def _words_inside(words: list[Box], box: Box) -> int:
    return sum(1 for w in words if box.left <= w.left and w.right <= box.right and box.top <= w.top and w.bottom <= box.bottom)


def _label_boxes(reading: PageReading, inner: Box) -> list[Box]:
    """Printed label words that sit inside the box (e.g. a caption), confidently read."""
    out = []
    for line in reading.layout.lines:
        for w in line.words:
            if w.conf >= 85 and len(w.text) >= 3 and w.text.isalpha():
                if inner.left <= w.left and w.right <= inner.right and inner.top <= w.top and w.bottom <= inner.bottom:
                    out.append(Box(w.left, w.top, w.right, w.bottom))
    return out
