"""Barcodes on images we did not make: the scans pyzbar ships with its own tests (third-party files).

Our decoder must read at least what zxing-cpp and pyzbar read, each on its own, and read nothing from
an image that holds no code.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import pyzbar
from pipeline.barcode import _pyzbar, _zxing, decode_page

SHIPPED = Path(pyzbar.__file__).parent / "tests"
WITH_CODES = ["code128.png", "qrcode.png", "qrcode_rotated.png"]


@pytest.mark.parametrize("name", WITH_CODES)
def test_we_read_what_either_decoder_reads_alone(name: str) -> None:
    """GIVEN a third-party image with barcodes WHEN it is decoded THEN every code either library
    finds on its own is in our result, under one symbology naming."""
    img = Image.open(SHIPPED / name).convert("L")
    ours = {(b.symbology, b.data) for b in decode_page(img, 1)}
    alone = {(b.symbology, b.data) for b in (*_zxing(img, 1), *_pyzbar(img, 1))}
    assert alone, f"neither library reads {name}: not a useful test image"
    assert alone <= ours
    assert {s for s, _ in ours} <= {"CODE128", "QRCODE"}


def test_no_code_is_read_from_an_image_without_one() -> None:
    img = Image.open(SHIPPED / "empty.png").convert("L")
    assert decode_page(img, 1) == ()


def test_no_code_is_read_from_noise_or_ruled_lines() -> None:
    """Scanner noise and a ruled table (bars of a sort) are not barcodes."""
    import numpy as np
    from PIL import ImageDraw

    rng = np.random.default_rng(5)
    noise = Image.fromarray((rng.random((1200, 1600)) > 0.93).astype(np.uint8) * 255).convert("L")
    ruled = Image.new("L", (1600, 1200), 255)
    draw = ImageDraw.Draw(ruled)
    for x in range(100, 1500, 37):
        draw.line([(x, 100), (x, 1100)], fill=0, width=3 + x % 4)
    assert decode_page(noise, 1) == ()
    assert decode_page(ruled, 1) == ()
