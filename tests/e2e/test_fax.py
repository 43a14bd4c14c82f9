"""Old 100 dpi fax-like scans: enlarged before reading, and their text goes into the index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.samples.fax import word_recall, write_fax_set
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]


def test_fax_pages_are_read_and_their_words_indexed(tmp_path: Path) -> None:
    """GIVEN two 100 dpi fax-like sheets in the inbox, one grey and one bitonal
    WHEN the inbox is processed
    THEN each is filed under its delivery number, at least 75 percent of its printed words are in its
    sidecar's text (tesseract on real 100 dpi forms: 57 percent as they were, 75 enlarged 2x), and a word
    of its customer's name finds it in the index."""
    pages = write_fax_set(tmp_path / "inbox", count=2, seed=3)
    proc = signoff("watch", "--once", "--json", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    rows = jsonl(proc.stdout)
    assert len(rows) == 2, rows
    for page in pages:
        (row,) = [r for r in rows if Path(r["source"]).name == page.path.name]
        number = page.delivery_number
        assert row["delivery_number"] == number
        sidecar = json.loads((tmp_path / row["path"]).with_suffix(".json").read_text(encoding="utf-8"))
        found, total = word_recall(page.text, sidecar["text"])
        assert found / total >= 0.75, (page.path.name, found, total, sidecar["text"])
        word = max(page.customer.split(), key=len) if page.language != "zh" else page.customer[:2]
        hits = jsonl(signoff("search", "--json", word, cwd=tmp_path).stdout)
        assert number in [h["delivery_number"] for h in hits], (word, hits)
