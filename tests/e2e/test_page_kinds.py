"""A page that is not a sign-off sheet is reported and filed apart, with no invented fields."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]

LETTER = [
    "Atlas Haulage Ltd", "Kingsway Industrial Estate, Derby", "", "INVOICE 2026-1187", "",
    "Dear customer,", "please find enclosed our invoice for the transport services of October.",
    "Payment is due within 30 days.", "", "Freight Derby - Leeds          420.00",
    "Fuel surcharge                   38.50", "", "Kind regards,", "Accounts department",
]


def test_an_invoice_is_kind_other_and_filed_apart(tmp_path: Path) -> None:
    """GIVEN an invoice page (thin serif print, no sign-off labels) in the inbox
    WHEN it is inspected and filed
    THEN it is one document of kind "other", incomplete, with no field read, under archive/_other/."""
    img = Image.new("L", (2480, 3508), 255)
    font = ImageFont.truetype("/usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf", 42)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(LETTER):
        draw.text((250, 250 + 70 * i), line, font=font, fill=0)
    (tmp_path / "inbox").mkdir()
    img.save(tmp_path / "inbox" / "invoice.png", dpi=(300, 300))

    (rec,) = jsonl(signoff("inspect", "--json", "inbox/invoice.png", cwd=tmp_path).stdout)
    assert rec["kind"] == "other" and rec["complete"] is False and rec["delivery_number"] is None
    assert all(f.get("value") is None for f in rec["fields"].values())
    assert "invoice" in rec["text"].lower()

    proc = signoff("watch", "--once", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (row,) = jsonl(proc.stdout)
    assert row["kind"] == "other" and row["path"].startswith("archive/_other/")
    assert (tmp_path / row["path"]).exists()
    # It is searchable, and stays so when the index is rebuilt from the archive.
    for _ in range(2):
        hits = jsonl(signoff("search", "--json", "kind:other", cwd=tmp_path).stdout)
        assert [h["path"] for h in hits] == [row["path"].removeprefix("archive/")]
        assert signoff("reindex", cwd=tmp_path).returncode == 0
