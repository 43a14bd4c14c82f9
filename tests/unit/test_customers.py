"""Matching a read customer name to the configured list, and finding a known name when its label was lost."""

from __future__ import annotations

from pathlib import Path

from pipeline.classify.customers import Customer, CustomerList
from pipeline.document import FieldResult, FieldStatus
from pipeline.reader import _canonical_customer

CUSTOMERS = CustomerList(
    (
        Customer("C-1", "Nordic Timber AB"),
        Customer("C-2", "Östra Kyl & Frys AB"),
        Customer("C-3", "Brightwater Supplies Ltd"),
        Customer("C-4", "Harbour View Hotels Ltd"),
        Customer("C-5", "上海恒达物流有限公司"),
        Customer("C-6", "北京京城建材有限公司"),
    )
)


def _id(read: str) -> str | None:
    found, _ = CUSTOMERS.match(read)
    return found.id if found else None


def test_ocr_slips_accents_and_specks_still_name_the_customer() -> None:
    assert _id("Harbour Vlew Hote1s Ltd") == "C-4"
    assert _id("Ostra Kyl & Frys AB") == "C-2"
    assert _id("‘Nordic Timber AB") == "C-1"
    assert _id("上海 恒达 物流 有限 公司") == "C-5"  # OCR's spaces between Chinese characters


def test_a_name_that_shares_only_a_legal_form_is_nobody() -> None:
    # WRatio's partial matching took this for Brightwater Supplies Ltd at 85.5.
    assert _id("Acme Trading Ltd") is None
    assert _id("N") is None


def test_a_weaker_read_counts_only_when_one_customer_is_clearly_ahead() -> None:
    assert _id("上海局达物浪有限公司") == "C-5"  # 80 against 40 for the next
    two = CustomerList((Customer("A", "Nordic Timber AB"), Customer("B", "Nordic Timber AS")))
    found, score = two.match("Nordc Tlmber A8")  # close to both: no clear winner
    assert found is None and score < 85


def test_a_known_name_on_a_line_of_its_own_is_found_but_not_inside_a_sentence() -> None:
    found, _ = CUSTOMERS.find_in(["Northwind Freight Ltd", "六 : 北京 京城 建材 有限 公司 几", "Unit 9"])
    assert found is not None and found.id == "C-6"
    found, _ = CUSTOMERS.find_in(["Returned to Nordic Timber AB on Monday with two pallets of the wrong size"])
    assert found is None


def test_the_list_settles_an_unsure_read_and_stands_in_for_a_lost_label() -> None:
    unsure = FieldResult(FieldStatus.UNREADABLE, "Harbour Vlew Hote1s Ltd", 41.0, note="could not be read with confidence")
    result, cid = _canonical_customer(unsure, CUSTOMERS, [])
    assert (result.status, result.value, cid) == (FieldStatus.OK, "Harbour View Hotels Ltd", "C-4")
    lost = FieldResult(FieldStatus.MISSING, note="label not found")
    result, cid = _canonical_customer(lost, CUSTOMERS, ["DN-2026-000001\n深圳华南 \n北京京城建材有限公司\n"])
    assert (result.status, cid) == (FieldStatus.OK, "C-6")
    specks = FieldResult(FieldStatus.UNREADABLE, '"+', 20.0, note="could not be read with confidence")
    result, cid = _canonical_customer(specks, CUSTOMERS, ["Kund:\n", "Nordic Timber AB\nStorgatan 1"])
    assert (result.status, cid) == (FieldStatus.OK, "C-1")
    empty = FieldResult(FieldStatus.MISSING, note="empty")  # the label was read and nothing is beside it
    assert _canonical_customer(empty, CUSTOMERS, ["北京京城建材有限公司"]) == (empty, None)
    unknown = FieldResult(FieldStatus.OK, "Acme Trading Ltd", 95.0)
    result, cid = _canonical_customer(unknown, CUSTOMERS, [])
    assert (result.status, result.note, cid) == (FieldStatus.UNREADABLE, "not a known customer", None)


def test_customers_csv_loads(tmp_path: Path) -> None:
    from pipeline.classify.customers import load_customers

    (tmp_path / "c.csv").write_text("id,name\nC-9,Göteborgs Hamnlager AB\n", encoding="utf-8")
    assert load_customers(tmp_path / "c.csv").customers == (Customer("C-9", "Göteborgs Hamnlager AB"),)


def test_a_name_the_scan_broke_over_two_lines_is_matched_whole() -> None:
    read = FieldResult(FieldStatus.OK, "Östra", 80.0)
    page = ["Kund:\nÖstra ” |\nKyl & Frys AB .\nKylvägen 2\n"]
    result, cid = _canonical_customer(read, CUSTOMERS, page)
    assert (result.status, result.value, cid) == (FieldStatus.OK, "Östra Kyl & Frys AB", "C-2")
    alone, _ = _canonical_customer(read, CUSTOMERS, ["Kund:\nÖstra\nKylvägen 2\n"])
    assert alone.status is FieldStatus.UNREADABLE  # the next line is an address: no known name


def test_a_name_the_field_reading_broke_but_the_page_text_did_not_is_matched_whole() -> None:
    read = FieldResult(FieldStatus.UNREADABLE, "Östra", 50.0)
    result, cid = _canonical_customer(read, CUSTOMERS, ["Kund:\nÖstra Kyl & Frys AB ” | .\nKylvägen 2\n"])
    assert (result.status, cid) == (FieldStatus.OK, "C-2")
