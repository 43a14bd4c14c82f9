"""The article list, end to end: a scan dropped in the inbox whose item code is misprinted the way a
150 dpi scan misreads it ("PT-SL" for PT-5L) is filed with the known article number, and with what was
read beside it, in its sidecar and in `signoff show`."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from pipeline.samples import ItemTruth, random_sheet, render_sheet
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import signoff

pytestmark = [pytest.mark.slow, needs_tesseract]


def test_a_misread_code_is_filed_as_the_known_article(tmp_path: Path) -> None:
    rng = random.Random(5)
    sheet = random_sheet(rng, language="en", signed=True, time_style="printed", barcode="code128")
    items = (ItemTruth("PT-SL", "Wall paint white 5 L", 7, None), ItemTruth("XQ-9100", "Spare part", 2, None))
    sheet = dataclasses.replace(sheet, items=items)
    (tmp_path / "inbox").mkdir()
    render_sheet(sheet, dpi=300, rng=rng)[0].save(tmp_path / "inbox" / "scan.png")
    (tmp_path / "articles.csv").write_text("sku,description\nPT-5L,Wall paint\nGL-88,Gloves\n", encoding="utf-8")

    done = signoff("--articles", "articles.csv", "watch", "--once", "--json", cwd=tmp_path)
    assert done.returncode in (0, 1), done.stderr
    shown = signoff("show", sheet.delivery_number, "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout.splitlines()[0])
    items = record["fields"]["items"]["value"]
    rows = {(i["sku"], i.get("sku_read"), i["qty"]) for i in items}
    assert ("PT-5L", "PT-SL", 7) in rows  # the known article, with what the sheet says
    assert ("XQ-9100", None, 2) in rows  # a code no article is like stays as read
