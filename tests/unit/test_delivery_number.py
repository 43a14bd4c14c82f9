"""Which delivery number a page carries: barcode and printed text, and what happens when they differ."""

from __future__ import annotations

from pipeline.document import Barcode
from pipeline.reader import _delivery_number, _disagreement


def test_barcode_agreeing_with_text_wins_with_its_page_marker() -> None:
    codes = [Barcode("EAN13", "7310865004703", 1), Barcode("CODE128", "DN-2025-004817 1/2", 1)]
    dn, source, marker = _delivery_number(codes, "DN-2025-004817", "Delivery No.: DN-2025-004817")
    assert (dn, source, marker.page, marker.of) == ("DN-2025-004817", "barcode", 1, 2)
    assert _disagreement(dn, source, "DN-2025-004817") is None


def test_text_alone_when_there_is_no_code() -> None:
    assert _delivery_number([], "DN-2025-004817", "")[:2] == ("DN-2025-004817", "text")


def test_a_product_ean_is_not_a_delivery_number() -> None:
    assert _delivery_number([Barcode("EAN13", "7310865004703", 1)], None, "")[0] is None


def test_disagreement_is_said() -> None:
    dn, source, _ = _delivery_number([Barcode("QRCODE", "DN-2025-004817", 1)], "DN-2025-004871", "")
    assert dn == "DN-2025-004817"
    assert _disagreement(dn, source, "DN-2025-004871") == "barcode says DN-2025-004817, printed text reads DN-2025-004871"
