"""Handwriting nobody can read is `unreadable` (something is there), an empty field `missing`.

The form here is drawn by the test itself, not by the project's generator: another font, another
layout, a scribble for a handwritten time and name.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]

FONT = "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"


def scribble(draw: ImageDraw.ImageDraw, x: int, y: int, width: int, seed: int) -> None:
    """Cursive-looking strokes: loops along a baseline, like a hurried hand."""
    rng = random.Random(seed)
    pts = []
    for i in range(0, width, 3):
        t = i / 14.0
        pts.append((x + i + 9 * math.cos(t * 1.7), y + 18 * math.sin(t) + rng.uniform(-2, 2)))
    draw.line(pts, fill=(25, 35, 110), width=4)


def form(path: Path, *, handwritten: bool) -> None:
    img = Image.new("RGB", (2480, 3508), "white")
    d = ImageDraw.Draw(img)
    f = ImageFont.truetype(FONT, 44)
    d.text((200, 150), "PROOF OF DELIVERY", font=ImageFont.truetype(FONT, 72), fill="black")
    rows = [("Delivery No.:", "DN-2026-771204"), ("Customer:", "Nordic Timber AB")]
    y = 400
    for label, value in rows:
        d.text((200, y), label, font=f, fill="black")
        d.text((760, y), value, font=f, fill="black")
        y += 90
    y += 60
    for i, col in enumerate(("SKU", "Description", "Qty")):
        d.text((200 + [0, 450, 1500][i], y), col, font=f, fill="black")
    d.text((200, y + 80), "A-1001", font=f, fill="black")
    d.text((650, y + 80), "Pine board 45x95 mm", font=f, fill="black")
    d.text((1700, y + 80), "12", font=f, fill="black")
    y += 300
    for label in ("Received (date/time):", "Received by:"):
        d.text((200, y), label, font=f, fill="black")
        d.line((760, y + 55, 1700, y + 55), fill="black", width=2)  # a line to write on
        if handwritten:
            scribble(d, 800, y + 15, 600, seed=y)
        y += 140
    d.text((200, y), "Signature:", font=f, fill="black")
    d.rectangle((760, y - 20, 1800, y + 300), outline="black", width=3)
    scribble(d, 820, y + 130, 700, seed=99)
    img.convert("L").save(path, dpi=(300, 300))


@pytest.mark.parametrize("handwritten", [True, False])
def test_handwritten_time_is_unreadable_and_empty_is_missing(tmp_path: Path, handwritten: bool) -> None:
    form(tmp_path / "pod.png", handwritten=handwritten)
    (rec,) = jsonl(signoff("inspect", "--json", "pod.png", cwd=tmp_path).stdout)
    assert rec["delivery_number"] == "DN-2026-771204"
    assert rec["fields"]["customer"]["value"] == "Nordic Timber AB"
    assert rec["fields"]["signature"]["status"] == "ok"
    want = "unreadable" if handwritten else "missing"
    assert rec["fields"]["time"]["status"] == want
    assert rec["fields"]["receiver"]["status"] == want
    # Unreadable does not make a sheet incomplete; missing does.
    assert rec["complete"] is handwritten
