"""Matching a read item code to the configured article list despite the slips of a 150 dpi scan."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.classify import ArticleList, load_articles
from pipeline.document import FieldResult, FieldStatus
from pipeline.errors import ConfigError
from pipeline.reader import _known_articles

ARTICLES = ArticleList(("PT-5L", "HD-7802", "HD-7731", "PK-2040", "SW-500", "CB-305", "GL-88", "TB-2x4-240"))


@pytest.mark.parametrize(
    ("read", "known"),
    [
        ("PT-SL", "PT-5L"),  # 5 read S
        ("PTSL", "PT-5L"),  # and its dash lost
        ("HO-7802", "HD-7802"),  # D read O
        ("SW-S00", "SW-500"),
        ("C8B-305", "CB-305"),  # one letter too many
        ("PRK-2040", "PK-2040"),
        ("GL88", "GL-88"),
        ("TB-2x4-2-40", "TB-2x4-240"),
        ("HD-7731", "HD-7731"),
    ],
)
def test_a_code_read_with_slips_is_the_one_known_article(read: str, known: str) -> None:
    assert ARTICLES.known(read) == known


def test_no_article_is_guessed_when_none_or_two_are_as_close() -> None:
    assert ARTICLES.known("45x95") is None  # a dimension from the description, not a code
    assert ARTICLES.known("XY-9999") is None
    assert ARTICLES.known("HD-77") is None  # one edit from nothing, two from both HD codes
    both = ArticleList(("PT-5L", "PT-SL"))
    assert both.known("PT-SL") == "PT-SL" and both.known("PT5L") is None  # either could be meant
    short = ArticleList(("A-1", "B-2"))
    assert short.known("A-7") is None  # too short to allow a slip beyond look-alikes


def test_item_lines_carry_the_known_code_and_what_was_read() -> None:
    items = FieldResult(FieldStatus.OK, [{"sku": "PT-SL", "qty": 3}, {"sku": "45x95", "qty": 2}, {"sku": None, "qty": 1}])
    out = _known_articles(items, ARTICLES)
    assert out.value == [{"sku": "PT-5L", "qty": 3, "sku_read": "PT-SL"}, {"sku": "45x95", "qty": 2}, {"sku": None, "qty": 1}]
    missing = FieldResult(FieldStatus.MISSING, note="no item table found")
    assert _known_articles(missing, ARTICLES) is missing


def test_articles_csv_loads_and_says_what_is_wrong(tmp_path: Path) -> None:
    good = tmp_path / "articles.csv"
    good.write_text("SKU,description\nPT-5L,Wall paint\nGL-88,Gloves\nPT-5L,again\n\n", encoding="utf-8")
    assert load_articles(good).codes == ("PT-5L", "GL-88")
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\nPT-5L,x\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs a column sku"):
        load_articles(bad)
