"""A second look at unsure table cells, with a stand-in OCR engine (no tesseract)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
from PIL import Image

from pipeline.document import FieldStatus, Word
from pipeline.fields import ItemRow, ValueRegion
from pipeline.layout import Box, LabelHit
from pipeline.reader import _reread_rows, _with_accents_all


class CellEngine:
    """Reads the crops stacked on a canvas as tesseract would: it finds each crop as a run of
    inked rows and answers it with the next of the texts it was given (the last one again when
    they run out), its words laid left to right inside the crop; it records the languages it
    was asked for."""

    languages = ("eng", "swe", "chi_sim")

    def __init__(self, *texts: str) -> None:
        self.texts = texts
        self.asked: list[Sequence[str] | None] = []

    def osd(self, image: Image.Image, dpi: int) -> tuple[str | None, int, float]:
        return None, 0, 0.0

    def __call__(self, image: Image.Image, languages: Sequence[str] | None = None) -> tuple[Word, ...]:
        self.asked.append(languages)
        inked = (np.asarray(image.convert("L")) < 128).any(axis=1)
        edges = np.flatnonzero(np.diff(np.concatenate(([0], inked.astype(int), [0]))))
        words: list[Word] = []
        for n, (top, bottom) in enumerate(zip(edges[::2], edges[1::2])):
            text = self.texts[min(n, len(self.texts) - 1)]
            words += [Word(t, 20 + 60 * i, int(top), 50, int(bottom - top), 90.0, n) for i, t in enumerate(text.split())]
        return tuple(words)


PAGE = Image.new("L", (1000, 1000), 0)  # ink everywhere: every crop is found on the canvas


def test_missing_quantity_and_unsure_sku_are_read_again() -> None:
    row = ItemRow("PT-5SL", "Väggfärg", None, None, 50.0, Box(800, 100, 900, 140), Box(10, 100, 120, 140), sku_sure=False)
    engine = CellEngine("11 st", "PT-5SL")
    [out] = _reread_rows([row], PAGE, engine, unit=40.0)
    assert out.qty == 11 and out.unit == "st" and out.sku == "PT-5SL"
    assert engine.asked == [["eng"]]  # both cells in one reading


def test_a_second_look_that_reads_nothing_keeps_the_first() -> None:
    row = ItemRow("A-1001", "Pine", None, None, 50.0, Box(800, 100, 900, 140), None)
    assert _reread_rows([row], PAGE, CellEngine("~~"), unit=20.0) == [row]


def test_on_a_chinese_page_every_sku_is_read_again_in_latin_script() -> None:
    row = ItemRow("GL88", "手套", 4, None, 90.0, None, Box(10, 100, 120, 140))
    engine = CellEngine("GL-88")
    assert _reread_rows([row], PAGE, engine, unit=40.0)[0].sku == "GL88"  # sure, Latin page
    assert engine.asked == []  # nothing to read again: no engine run at all
    assert _reread_rows([row], PAGE, engine, unit=40.0, cjk=True)[0].sku == "GL-88"
    assert engine.asked == [["eng"]]


def test_every_rows_cells_are_read_in_one_run_and_keep_to_their_own_row() -> None:
    rows = [
        ItemRow("GL88", "手套", 4, None, 90.0, None, Box(10, 100, 120, 140)),
        ItemRow("BX12", "箱子", None, None, 90.0, Box(800, 200, 900, 260), Box(10, 200, 120, 260)),
        ItemRow("TP3", "胶带", 2, None, 90.0, None, Box(10, 300, 140, 330)),
    ]
    engine = CellEngine("GL-88", "7 pcs", "BX-12", "TP-3")
    out = _reread_rows(rows, PAGE, engine, unit=20.0, cjk=True)  # small text: crops enlarged 2x
    assert [(r.sku, r.qty, r.unit) for r in out] == [("GL-88", 4, None), ("BX-12", 7, "pcs"), ("TP-3", 2, None)]
    assert engine.asked == [["eng"]]


def test_a_cell_too_small_to_read_reads_as_nothing_without_shifting_the_others() -> None:
    rows = [
        ItemRow("A1", "Pine", None, None, 50.0, Box(800, 100, 802, 140), None),  # 2 px wide
        ItemRow("B2", "Oak", None, None, 50.0, Box(800, 200, 900, 240), None),
    ]
    out = _reread_rows(rows, PAGE, CellEngine("5 st"), unit=40.0)
    assert (out[0].qty, out[1].qty) == (None, 5)


def _value(text: str, top: int) -> ValueRegion:
    words = tuple(Word(t, 300 + 120 * i, top, 100, 30, 90.0, top) for i, t in enumerate(text.split()))
    label = LabelHit("customer", "customer", 0, 0, 0, Box(100, top, 250, top + 30), True)
    return ValueRegion(label, words, (words,), Box(300, top, 900, top + 30), "right")


def test_customer_and_receiver_are_read_again_in_swedish_in_one_run() -> None:
    values = {"customer": _value("Alvdalens Tra AB", 100), "receiver": _value("Gavle Bygg", 300)}
    engine = CellEngine("Älvdalens Trä AB", "Gävle Bygg")
    _with_accents_all(values, ("customer", "receiver"), PAGE, engine, unit=30.0)
    assert values["customer"].first_line == "Älvdalens Trä AB"
    assert values["receiver"].first_line == "Gävle Bygg"
    assert engine.asked == [["swe"]]


def test_a_reading_with_no_label_and_little_sure_text_looks_turned() -> None:
    from pipeline.reader import _looks_turned

    page = Image.new("L", (2480, 3508), 255)
    gibberish = tuple(Word(t, 100 + 200 * i, 300, 150, 40, 40.0, 0) for i, t in enumerate(":AG paaiaay flL6109z0z-NQ".split()))
    upright = (Word("Customer:", 100, 300, 220, 40, 95.0, 0), Word("Nordic", 400, 300, 150, 40, 95.0, 0))
    letter = tuple(Word("Transport" * 3, 100, 100 + 50 * i, 900, 40, 95.0, i) for i in range(10))
    assert _looks_turned(gibberish, page)
    assert not _looks_turned(upright, page)  # a label was read: the page is upright
    assert not _looks_turned(letter, page)  # plenty of sure text (a letter has no labels)


def test_an_unsure_quantity_is_read_again_and_a_sure_one_is_not() -> None:
    """ "22 st" read unsure as "228": the cell alone reads "22 st-". A sure "45" is left alone."""
    rows = [
        ItemRow("PL-1200", "EUR-pall", 228, None, 40.0, Box(800, 100, 900, 140), None, qty_sure=False),
        ItemRow("HD-7731", "Dörrgångjärn", 45, None, 90.0, Box(800, 200, 900, 240), None),
    ]
    engine = CellEngine("22 st-", "99")
    out = _reread_rows(rows, PAGE, engine, unit=40.0)
    assert [(r.qty, r.unit) for r in out] == [(22, "st"), (45, None)]


def test_an_unsure_quantity_whose_second_look_makes_no_sense_is_kept() -> None:
    row = ItemRow("A-1001", "Pine", 11, None, 49.0, Box(800, 100, 900, 140), None, qty_sure=False)
    assert _reread_rows([row], PAGE, CellEngine("it"), unit=40.0) == [row]


def test_an_unsure_quantity_is_replaced_only_by_its_own_start() -> None:
    """A second look that reads a wholly other number (74 read again as 740, 9 as 5) is not
    trusted over the page's reading: only a unit read into the number is mended."""
    rows = [
        ItemRow("CB-305", "Cable ties", 74, None, 40.0, Box(800, 100, 900, 140), None, qty_sure=False),
        ItemRow("A-1001", "Pine", 9, None, 40.0, Box(800, 200, 900, 240), None, qty_sure=False),
    ]
    out = _reread_rows(rows, PAGE, CellEngine("740", "5"), unit=40.0)
    assert [r.qty for r in out] == [74, 9]


def test_a_second_look_that_only_lost_a_digit_is_not_taken() -> None:
    """ "28" read again "2", "30 ne" read again "3x": the shorter number is the page's own start,
    but no unit was read into the page's number (none read again, or the page read one)."""
    rows = [
        ItemRow("CB-305", "Cable ties", 28, None, 28.0, Box(800, 100, 900, 140), None, qty_sure=False),
        ItemRow("SW-500", "Sträckfilm", 30, "ne", 40.0, Box(800, 200, 900, 240), None, qty_sure=False),
    ]
    out = _reread_rows(rows, PAGE, CellEngine("2", "3x"), unit=40.0)
    assert [(r.qty, r.unit) for r in out] == [(28, None), (30, "ne")]


def test_an_unsure_code_is_not_traded_for_a_second_look_without_its_digits() -> None:
    """ "A-1001" read unsure, then "A-HOor" on the second look: the digits the page read stay;
    a code whose digit the page read as a letter ("PTSL") still takes a second look with it."""
    rows = [
        ItemRow("A-1001", "Pine", 50, None, 40.0, None, Box(10, 100, 120, 140), sku_sure=False),
        ItemRow("PTSL", "Paint", 7, None, 40.0, None, Box(10, 200, 120, 240), sku_sure=False),
    ]
    out = _reread_rows(rows, PAGE, CellEngine("“A-HOor", "PT-5L"), unit=40.0)
    assert [r.sku for r in out] == ["A-1001", "PT-5L"]
    # Nor its dash: "LK-1175" read again "LK1175" stays as the page read it.
    row = ItemRow("LK-1175", "Lister", 40, None, 40.0, None, Box(10, 100, 120, 140), sku_sure=False)
    assert _reread_rows([row], PAGE, CellEngine("LK1175"), unit=40.0)[0].sku == "LK-1175"


def test_a_thin_one_before_a_unit_is_the_quantity_only_when_both_looks_find_no_digit() -> None:
    """ "1 m" read "Im" on the page and "lm" again: the one is the number. "läkt" on the page and
    "14 krt" again: the second look's number, not a one made of the l."""
    rows = [
        ItemRow("A-1001", "Furuplanka", None, None, 40.0, Box(800, 100, 900, 140), None, qty_sure=False),
        ItemRow("SE-44120", "Träskruv", None, None, 40.0, Box(800, 200, 900, 240), None, qty_sure=False),
        ItemRow("GL-88", "Handskar", None, None, 40.0, Box(800, 300, 900, 340), None, qty_sure=False),
    ]
    out = _reread_rows(rows, PAGE, CellEngine("lm", "14 krt", "l"), unit=40.0)
    assert [(r.qty, r.unit) for r in out] == [(1, "m"), (14, "krt"), (None, None)]


def _time_value(text: str) -> ValueRegion:
    v = _value(text, 400)
    return dataclasses.replace(v, label=dataclasses.replace(v.label, field="time"))


def _reading(unit: float = 30.0) -> Any:
    return SimpleNamespace(layout=SimpleNamespace(unit=unit))


NOW = datetime(2026, 11, 1)


def test_a_garbled_date_is_read_again_enlarged_and_the_most_read_time_wins() -> None:
    from pipeline.reader import _time_again

    value = _time_value("2026 人年 9 月 91] 13:22")
    engine = CellEngine("2026 人年 9 月 91] 13:22", "2026 年 9 月 9 日 13:22", "2026 年 9 月 9 日 13:22")
    got = _time_again(_reading(), value, "DMY", NOW, PAGE, engine, cjk=True)
    assert got is not None and got.status is FieldStatus.OK and got.value == "2026-09-09T13:22"
    assert engine.asked == [["eng"], ["chi_sim"]]  # the three sizes in one run per script


def test_a_second_look_that_reads_another_date_or_clock_time_is_not_taken() -> None:
    from pipeline.reader import _time_again

    garbled = _time_value("2026 年 0 月 24 日 .11:40")
    assert _time_again(_reading(), garbled, "DMY", NOW, PAGE, CellEngine("2026 年 10 月 246 1:40"), cjk=False) is None
    far = _time_value("29/1012026 07:55")
    assert _time_again(_reading(), far, "DMY", NOW, PAGE, CellEngine("12/03/2025 18:30"), cjk=False) is None
    mended = _time_again(_reading(), far, "DMY", NOW, PAGE, CellEngine("29/10/2026 07:55,"), cjk=False)
    assert mended is not None and mended.value == "2026-10-29T07:55"
    scrawl = _time_value("l4 ok")  # handwriting read as a letter or two: nothing printed to read again
    assert _time_again(_reading(), scrawl, "DMY", NOW, PAGE, CellEngine("14/10/2026 10:00"), cjk=False) is None


def test_a_date_read_without_the_clock_time_printed_after_it_is_read_again() -> None:
    """ "05/10/2026 14:05" read "Q5/10/2026 14:5": the date parses, the clock time does not. The
    line is read again, and a reading with the same date and a clock time is taken; a date read
    alone, with nothing after it, is not read again."""
    from pipeline.reader import _check_time

    engine = CellEngine("05/10/2026 14:05")
    got = _check_time(_reading(), _time_value("Q5/10/2026 14:5"), "DMY", NOW, PAGE, engine, cjk=False)
    assert (got.status, got.value) == (FieldStatus.OK, "2026-10-05T14:05")
    alone = CellEngine("05/10/2026 14:05")
    got = _check_time(_reading(), _time_value("05/10/2026"), "DMY", NOW, PAGE, alone, cjk=False)
    assert got.value == "2026-10-05" and alone.asked == []
