"""Pages scanned sideways or upside down are read upright and filed to be viewed upright."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from PIL import Image

from pipeline.samples import SheetTruth, degrade, random_sheet, render_sheet
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]


def _file_turned(root: Path, page: Image.Image, dpi: int, sheet: SheetTruth, turn: int) -> dict[str, Any]:
    """File one turned page with `watch --once`; check it was read as upright and is shown upright."""
    (root / "inbox").mkdir()
    page.save(root / "inbox" / "turned.png", dpi=(dpi, dpi))
    proc = signoff("watch", "--once", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    (row,) = jsonl(proc.stdout)
    assert row["delivery_number"] == sheet.delivery_number
    assert row["customer"] == sheet.customer
    assert row["statuses"]["signature"] == "ok"
    with pikepdf.open(root / row["path"]) as pdf:
        # /Rotate turns clockwise for viewing: it undoes the counter-clockwise turn of the scan.
        assert int(pdf.pages[0].obj.get("/Rotate", 0)) == turn
    return row


@pytest.mark.parametrize(("turn", "language"), [(90, "en"), (180, "sv"), (270, "zh")])
def test_turned_page_is_read_and_filed_upright(tmp_path: Path, turn: int, language: str) -> None:
    """GIVEN a sheet that went through the scanner turned by 90, 180 or 270 degrees
    WHEN it is filed
    THEN its delivery number, customer and signature are read as on an upright page, and the
    filed PDF page carries the /Rotate that shows it upright (the scan itself untouched)."""
    rng = random.Random(turn)
    sheet = random_sheet(rng, language=language, signed=True, time_style="printed")
    page = degrade(render_sheet(sheet, dpi=200, rng=rng)[0], rng).convert("L").rotate(turn, expand=True)
    row = _file_turned(tmp_path, page, 200, sheet, turn)
    assert row["complete"] is True


@pytest.mark.parametrize(("turn", "language"), [(180, "en"), (90, "sv")])
def test_turned_bitonal_150_dpi_page_without_a_barcode_is_read_upright(tmp_path: Path, turn: int, language: str) -> None:
    """GIVEN a 150 dpi bitonal scan, turned, whose barcodes were torn off (nothing says which way up
    but the text, and tesseract's orientation check is unsure at this resolution)
    WHEN it is filed
    THEN the page is read turned back: the delivery number comes from the printed text, and the
    customer and signature are read as upright."""
    from pipeline.barcode import decode_page
    from pipeline.samples.wide import _finish

    rng = random.Random(turn + 7)
    sheet = random_sheet(rng, language=language, signed=True, time_style="printed")
    rendered = render_sheet(sheet, dpi=150, rng=rng)[0]
    for code in decode_page(rendered, 1):  # tear the codes off: white over each, with a margin
        x, y, w, h = code.rect
        rendered.paste((255, 255, 255), (max(0, x - 20), max(0, y - 20), x + w + 20, y + h + 20))
    page = _finish(degrade(rendered, rng, level="heavy"), "heavy").rotate(turn, expand=True)
    assert decode_page(page.rotate(-turn, expand=True), 1) == ()
    _file_turned(tmp_path, page, 150, sheet, turn)
