"""Pages scanned sideways or upside down are read upright and filed to be viewed upright."""

from __future__ import annotations

import random
from pathlib import Path

import pikepdf
import pytest

from pipeline.samples import degrade, random_sheet, render_sheet
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]


@pytest.mark.parametrize(("turn", "language"), [(90, "en"), (180, "sv"), (270, "zh")])
def test_turned_page_is_read_and_filed_upright(tmp_path: Path, turn: int, language: str) -> None:
    """GIVEN a sheet that went through the scanner turned by 90, 180 or 270 degrees
    WHEN it is filed
    THEN its delivery number, customer and signature are read as on an upright page, and the
    filed PDF page carries the /Rotate that shows it upright (the scan itself untouched)."""
    rng = random.Random(turn)
    sheet = random_sheet(rng, language=language, signed=True, time_style="printed")
    page = degrade(render_sheet(sheet, dpi=200, rng=rng)[0], rng).convert("L").rotate(turn, expand=True)
    (tmp_path / "inbox").mkdir()
    page.save(tmp_path / "inbox" / "turned.png", dpi=(200, 200))
    proc = signoff("watch", "--once", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = jsonl(proc.stdout)
    assert row["delivery_number"] == sheet.delivery_number
    assert row["customer"] == sheet.customer
    assert row["statuses"]["signature"] == "ok" and row["complete"] is True
    with pikepdf.open(tmp_path / row["path"]) as pdf:
        # /Rotate turns clockwise for viewing: it undoes the counter-clockwise turn of the scan.
        assert int(pdf.pages[0].obj.get("/Rotate", 0)) == turn
