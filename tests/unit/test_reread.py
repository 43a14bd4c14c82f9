"""A second look at unsure table cells, with a stand-in OCR engine (no tesseract)."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from pipeline.document import Word
from pipeline.fields import ItemRow
from pipeline.layout import Box
from pipeline.reader import _reread_row


class CellEngine:
    """Answers every crop with the same words, and records the languages it was asked for."""

    languages = ("eng", "chi_sim")

    def __init__(self, text: str) -> None:
        self.text = text
        self.asked: list[Sequence[str] | None] = []

    def osd(self, image: Image.Image, dpi: int) -> tuple[str | None, int, float]:
        return None, 0, 0.0

    def __call__(self, image: Image.Image, languages: Sequence[str] | None = None) -> tuple[Word, ...]:
        self.asked.append(languages)
        return tuple(Word(t, 0, 0, 10, 10, 90.0, 0) for t in self.text.split())


PAGE = Image.new("L", (1000, 1000), 255)


def test_missing_quantity_and_unsure_sku_are_read_again() -> None:
    row = ItemRow("PT-5SL", "Väggfärg", None, None, 50.0, Box(800, 100, 900, 140), Box(10, 100, 120, 140), sku_sure=False)
    engine = CellEngine("11 st")
    out = _reread_row(row, PAGE, engine, unit=40.0)
    assert out.qty == 11 and out.unit == "st"
    assert engine.asked == [["eng"], ["eng"]]


def test_a_second_look_that_reads_nothing_keeps_the_first() -> None:
    row = ItemRow("A-1001", "Pine", None, None, 50.0, Box(800, 100, 900, 140), None)
    assert _reread_row(row, PAGE, CellEngine("~~"), unit=20.0) == row


def test_on_a_chinese_page_every_sku_is_read_again_in_latin_script() -> None:
    row = ItemRow("GL88", "手套", 4, None, 90.0, None, Box(10, 100, 120, 140))
    assert _reread_row(row, PAGE, CellEngine("GL-88"), unit=40.0).sku == "GL88"  # sure, Latin page
    engine = CellEngine("GL-88")
    assert _reread_row(row, PAGE, engine, unit=40.0, cjk=True).sku == "GL-88"
    assert engine.asked == [["eng"]]


def test_a_reading_with_no_label_and_little_sure_text_looks_turned() -> None:
    from pipeline.reader import _looks_turned

    page = Image.new("L", (2480, 3508), 255)
    gibberish = tuple(Word(t, 100 + 200 * i, 300, 150, 40, 40.0, 0) for i, t in enumerate(":AG paaiaay flL6109z0z-NQ".split()))
    upright = (Word("Customer:", 100, 300, 220, 40, 95.0, 0), Word("Nordic", 400, 300, 150, 40, 95.0, 0))
    letter = tuple(Word("Transport" * 3, 100, 100 + 50 * i, 900, 40, 95.0, i) for i in range(10))
    assert _looks_turned(gibberish, page)
    assert not _looks_turned(upright, page)  # a label was read: the page is upright
    assert not _looks_turned(letter, page)  # plenty of sure text (a letter has no labels)
