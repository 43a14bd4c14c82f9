"""The tesseract wrapper with the real tesseract: what it reads from each image mode, and what it leaves behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.ocr import TesseractEngine

FONT = "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf"


def _line(text: str, mode: str) -> Image.Image:
    img = Image.new("L", (900, 160), 255)
    ImageDraw.Draw(img).text((40, 50), text, font=ImageFont.truetype(FONT, 48), fill=0)
    if mode == "1":
        return img.point(lambda v: 255 if v > 128 else 0).convert("1")
    return img.convert(mode)


@pytest.mark.parametrize("mode", ["L", "1", "RGB", "RGBA", "P"])
def test_every_image_mode_is_read_and_no_temporary_file_is_left(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    words = TesseractEngine(["eng"])(_line("Delivery note 4817", mode))
    assert [w.text for w in words] == ["Delivery", "note", "4817"]
    assert all(w.conf > 60 and w.width > 0 for w in words)
    assert list(tmp_path.iterdir()) == []


def test_orientation_of_an_upside_down_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    page = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(FONT, 34)
    for i in range(14):
        draw.text((90, 120 + i * 90), f"Received by the customer in good order, line {i + 1}", font=font, fill=0)
    _, rotate, conf = TesseractEngine(["eng"]).osd(page.rotate(180), 150)
    assert rotate == 180 and conf > 1
    assert list(tmp_path.iterdir()) == []
