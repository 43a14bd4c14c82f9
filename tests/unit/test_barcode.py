"""Barcodes: every code on a page under one naming, page markers split off; nothing from nothing."""

from __future__ import annotations

import random

import numpy as np
import pytest
import zxingcpp
from PIL import Image

from pipeline.barcode import decode_page, split_page_marker, symbology_name
from pipeline.samples import degrade, random_sheet, render_sheet


def test_codes_on_a_generated_sheet() -> None:
    rng = random.Random(5)
    sheet = random_sheet(rng, barcode="both")
    page = degrade(render_sheet(sheet, dpi=200, rng=rng)[0], rng)
    codes = decode_page(page, 1)
    assert {(c.symbology, c.data) for c in codes} == {("CODE128", sheet.delivery_number), ("QRCODE", sheet.delivery_number)}


def test_datamatrix_which_zbar_cannot_read() -> None:
    page = Image.new("L", (1200, 1600), 255)
    code = zxingcpp.create_barcode("DN-2025-004817", zxingcpp.BarcodeFormat.DataMatrix)
    dm = Image.fromarray(np.asarray(zxingcpp.write_barcode_to_image(code, scale=12)))
    page.paste(dm, (800, 100))
    assert [(c.symbology, c.data, c.page) for c in decode_page(page, 3)] == [("DATAMATRIX", "DN-2025-004817", 3)]


def test_no_code_is_read_from_a_page_without_one() -> None:
    rng = random.Random(2)
    noisy = degrade(Image.new("RGB", (1240, 1754), "white"), rng)
    assert decode_page(noisy, 1) == ()


@pytest.mark.parametrize(
    ("data", "dn", "page", "of"),
    [("DN-2025-004817 1/2", "DN-2025-004817", 1, 2), ("DN-2025-004817", "DN-2025-004817", None, None), ("X 3/2", "X 3/2", None, None)],
)
def test_page_marker(data: str, dn: str, page: int | None, of: int | None) -> None:
    m = split_page_marker(data)
    assert (m.delivery_number, m.page, m.of) == (dn, page, of)


def test_one_naming() -> None:
    assert [symbology_name(n) for n in ("Code 128", "CODE128", "QR Code", "QRCODE", "DataMatrix", "EAN-13", "I25")] == [
        "CODE128", "CODE128", "QRCODE", "QRCODE", "DATAMATRIX", "EAN13", "ITF"]


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_upright_turn_from_the_codes(turn: int) -> None:
    from pipeline.barcode import upright_turn

    rng = random.Random(8)
    sheet = random_sheet(rng, barcode="code128")
    page = render_sheet(sheet, dpi=150, rng=rng)[0].rotate(turn, expand=True)
    assert upright_turn(decode_page(page, 1)) == (-turn) % 360


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_codes_moved_with_their_page_are_where_decoding_the_turned_page_finds_them(turn: int) -> None:
    """GIVEN a sheet scanned turned WHEN the page is turned upright THEN the codes found before
    the turn, moved with it, are those a second decoding finds, in the same places and order."""
    from pipeline.barcode import turned, upright_turn

    rng = random.Random(11)
    sheet = random_sheet(rng, barcode="both")
    page = render_sheet(sheet, dpi=150, rng=rng)[0].rotate(turn, expand=True)
    codes = decode_page(page, 1)
    back = upright_turn(codes)
    moved = turned(codes, back, page.size)
    again = decode_page(page.rotate(back, expand=True), 1)
    assert [(c.symbology, c.data) for c in moved] == [(c.symbology, c.data) for c in again]
    for a, b in zip(moved, again):
        assert all(abs(x - y) <= 8 for x, y in zip(a.rect, b.rect)), (a.rect, b.rect)
    assert upright_turn(moved) == 0


def test_a_page_without_a_code_says_nothing_of_its_orientation() -> None:
    from pipeline.barcode import upright_turn

    assert upright_turn(()) is None
