"""Which languages a page is read in, with a stand-in OCR engine (no tesseract): one reading for a
page in the first language, a second only in the language the first reading shows."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from pipeline.document import Word
from pipeline.reader import _read_words

PAGE = Image.new("L", (2480, 3508), 255)
H = 40


def words(*lines: str, conf: float = 95.0, row: int = 0) -> tuple[Word, ...]:
    """One line of words per text, down the page from line ``row``, as tesseract boxes them."""
    out = []
    for n, text in enumerate(lines, start=row):
        x = 200
        for part in text.split(" "):
            w = max(H // 2, int(len(part) * H * 0.55))
            out.append(Word(part, x, 300 + n * 120, w, H, conf, n))
            x += w + H // 3
    return tuple(out)


ENGLISH = words("Delivery note: DN-2025-004817", "Customer: Nordic Timber AB", "Signature:", "Received by: Anna Berg")
SWEDISH_AS_ENGLISH = words("Foljesedel: DN-2025-004817", "Kund: Alvdalens Tra AB", "Underskrift:", "Mottaget datum tid:")
SWEDISH = words("Följesedel: DN-2025-004817", "Kund: Älvdalens Trä AB", "Underskrift:", "Mottaget datum tid:")
# Chinese read by the English model: shapes it is unsure of, a delivery number it is sure of.
CHINESE_AS_ENGLISH = words("DN-2025-004817") + words("iE # BH: A it 2S", "Bi FF: EK TA", "HE: 7 8 iR", conf=30.0)
CHINESE = words("送货单号: DN-2025-004817", "客户: 上海恒达物流有限公司", "签名:", "签收时间: 2025-03-14 10:30")
INVOICE = words("INVOICE 2025-118", "Payment terms 30 days net", "Total amount due 1 204.00 EUR")


class Engine:
    """Answers each language with its own words and records what it was asked."""

    languages = ("eng", "swe", "chi_sim")

    def __init__(self, **by_language: tuple[Word, ...]) -> None:
        self.by_language = by_language
        self.asked: list[tuple[str, ...]] = []

    def osd(self, image: Image.Image, dpi: int) -> tuple[str | None, int, float]:
        return None, 0, 0.0

    def __call__(self, image: Image.Image, languages: Sequence[str] | None = None) -> tuple[Word, ...]:
        asked = tuple(languages or self.languages)
        self.asked.append(asked)
        return self.by_language["+".join(asked)]


def test_an_english_page_is_read_once_in_the_first_language() -> None:
    engine = Engine(eng=ENGLISH)
    assert _read_words(PAGE, engine) == (ENGLISH, None)
    assert engine.asked == [("eng",)]


def test_a_swedish_page_is_read_again_in_swedish() -> None:
    engine = Engine(eng=SWEDISH_AS_ENGLISH, swe=SWEDISH)
    assert _read_words(PAGE, engine) == (SWEDISH, "swe")
    assert engine.asked == [("eng",), ("swe",)]


def test_a_page_in_a_script_the_first_language_cannot_read_is_read_in_chinese() -> None:
    engine = Engine(eng=CHINESE_AS_ENGLISH, chi_sim=CHINESE)
    assert _read_words(PAGE, engine) == (CHINESE, "chi_sim")
    assert engine.asked == [("eng",), ("chi_sim",)]


def test_a_label_read_by_chance_among_unsure_shapes_does_not_make_a_page_english() -> None:
    """Two Chinese characters came out "Sign:" on real generated sheets: one label is chance."""
    as_english = CHINESE_AS_ENGLISH + words("Sign: Bk nF EEE", conf=40.0, row=5)
    engine = Engine(eng=as_english, chi_sim=CHINESE)
    assert _read_words(PAGE, engine) == (CHINESE, "chi_sim")
    assert engine.asked == [("eng",), ("chi_sim",)]


def test_a_sure_page_without_labels_is_not_read_again() -> None:
    """An English invoice has no sign-off labels, but the English model is sure of its words."""
    engine = Engine(eng=INVOICE)
    assert _read_words(PAGE, engine) == (INVOICE, None)
    assert engine.asked == [("eng",)]


def test_a_chinese_reading_that_reads_no_better_is_not_kept() -> None:
    """Specks and smudges the English model is unsure of are not Chinese: the Chinese reading,
    finding no label and fewer sure characters, is dropped."""
    smudged = words("DN-2025-004817 Nordic Timber") + words("x ~ ;: ,. ' -", conf=20.0)
    engine = Engine(eng=smudged, chi_sim=words("一 二", conf=20.0))
    assert _read_words(PAGE, engine) == (smudged, None)
    assert engine.asked == [("eng",), ("chi_sim",)]


def test_a_deployment_that_lists_chinese_first_reads_chinese_pages_once() -> None:
    engine = Engine(chi_sim=CHINESE)
    engine.languages = ("chi_sim", "eng")
    assert _read_words(PAGE, engine) == (CHINESE, "chi_sim")
    assert engine.asked == [("chi_sim",)]
