"""A time of receipt that is implausible (in the future, years before the scan) is `unreadable`,
not `ok`; a year one misread digit off a plausible one ("2626") is mended and says so.

The form is drawn here, not by the project's generator: another font and layout.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.dates import is_plausible
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff
from tests.e2e.test_handwriting import FONT, scribble

pytestmark = [pytest.mark.slow, needs_tesseract]

THIS_YEAR = datetime.now().year


def form(path: Path, received: str) -> None:
    img = Image.new("RGB", (2480, 3508), "white")
    d = ImageDraw.Draw(img)
    f = ImageFont.truetype(FONT, 44)
    d.text((200, 150), "DELIVERY RECEIPT", font=ImageFont.truetype(FONT, 72), fill="black")
    for y, (label, value) in zip((400, 490, 820, 960), [
        ("Delivery No.:", "DN-2026-552310"),
        ("Customer:", "Nordic Timber AB"),
        ("Received (date/time):", received),
        ("Received by:", "Anna Lindqvist"),
    ]):
        d.text((200, y), label, font=f, fill="black")
        d.text((760, y), value, font=f, fill="black")
    for x, col in ((200, "SKU"), (650, "Description"), (1700, "Qty")):
        d.text((x, 610), col, font=f, fill="black")
    d.text((200, 690), "HD-7731", font=f, fill="black")
    d.text((650, 690), "Door hinge, steel", font=f, fill="black")
    d.text((1700, 690), "4", font=f, fill="black")
    d.text((200, 1150), "Signature:", font=f, fill="black")
    d.rectangle((760, 1130, 1800, 1450), outline="black", width=3)
    scribble(d, 820, 1280, 700, seed=7)
    img.convert("L").save(path, dpi=(300, 300))


@pytest.mark.parametrize(
    ("received", "status", "value"),
    [
        (f"{THIS_YEAR - 7}-03-14 10:30", "unreadable", f"{THIS_YEAR - 7}-03-14T10:30"),  # years before the scan
        (f"{THIS_YEAR + 2}-03-14 10:30", "unreadable", f"{THIS_YEAR + 2}-03-14T10:30"),  # in the future
        ("2626-10-14 10:30", "ok", "2026-10-14T10:30"),  # 2026 with a zero misread: mended, and said
    ],
)
def test_an_implausible_time_is_unreadable(tmp_path: Path, received: str, status: str, value: str) -> None:
    if value.startswith("2026") and not is_plausible(datetime(2026, 10, 14, 10, 30)):
        pytest.skip("2026-10-14 is no longer a plausible receipt time")
    form(tmp_path / "pod.png", received)
    (rec,) = jsonl(signoff("inspect", "--json", "pod.png", cwd=tmp_path).stdout)
    time = rec["fields"]["time"]
    assert (time["status"], time.get("value")) == (status, value)
    if status == "ok":
        assert "mended" in time["note"]
    else:
        assert "implausible" in time["note"]
    assert rec["complete"] is True  # an unreadable time goes to review; it does not make the sheet incomplete
