"""Names read off paper can never leave the archive; nothing is overwritten."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from PIL import Image

from pipeline.document import FieldResult, FieldStatus, ScanDoc
from pipeline.errors import BadInput, ReasonCode
from pipeline.filing import doc_id, file_document, plan_destination, quarantine, safe_name

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nordic Timber AB", "Nordic-Timber-AB"),
        ("Göteborgs Hamnlager AB", "Göteborgs-Hamnlager-AB"),
        ("上海恒达物流有限公司", "上海恒达物流有限公司"),
        ("../../etc/passwd", "etc-passwd"),
        ("/absolute/path", "absolute-path"),
        ("_quarantine", "quarantine"),
        (".hidden", "hidden"),
        ("CON", "x-CON"),
        ("a\x00b\x1fc", "abc"),
        ("", "unnamed"),
        ("...", "unnamed"),
    ],
)
def test_safe_name(text: str, expected: str) -> None:
    assert safe_name(text) == expected


def test_safe_name_is_short() -> None:
    assert len(safe_name("Ö" * 500).encode()) <= 120


def _doc(tmp_path: Path, dn: str | None, customer: str | None, name: str = "scan.png") -> ScanDoc:
    src = tmp_path / name
    Image.new("L", (800, 1100), 255).save(src, dpi=(100, 100))
    fields = {
        "customer": FieldResult(FieldStatus.OK, customer) if customer else FieldResult(FieldStatus.MISSING),
        "time": FieldResult(FieldStatus.OK, "2025-03-14T10:30"),
    }
    from pipeline.document import Page

    return ScanDoc(src, "ab" * 32, (Page(1),), "signoff", dn, "barcode", fields)


def test_destination_by_customer_and_date(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "DN-2025-004817", "Nordic Timber AB")
    assert plan_destination(tmp_path / "a", doc, NOW) == tmp_path / "a/Nordic-Timber-AB/2025/03/DN-2025-004817.pdf"


def test_hostile_delivery_number_stays_inside(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "../../../x", "../..")
    dest = plan_destination(tmp_path / "a", doc, NOW)
    assert dest.resolve().is_relative_to((tmp_path / "a").resolve())


def test_no_delivery_number_gets_stable_content_id(tmp_path: Path) -> None:
    doc = _doc(tmp_path, None, None)
    assert doc_id(doc) == doc_id(doc) and doc_id(doc).startswith("X-")
    assert plan_destination(tmp_path / "a", doc, NOW).parts[-4] == "_unknown"


def test_duplicate_and_rescan(tmp_path: Path) -> None:
    archive = tmp_path / "a"
    first = file_document(_doc(tmp_path, "DN-1", "Acme"), archive, "png", NOW)
    again = file_document(_doc(tmp_path, "DN-1", "Acme"), archive, "png", NOW)
    rescan = file_document(_doc(tmp_path, "DN-1", "Acme").replace(sha256="cd" * 32), archive, "png", NOW)
    assert (first.outcome, again.outcome, rescan.outcome) == ("filed", "duplicate", "rescan")
    assert again.pdf == first.pdf
    assert rescan.pdf.name == "DN-1.v2.pdf"
    side = json.loads(rescan.pdf.with_suffix(".json").read_text())
    assert side["version"] == 2 and side["file"]["path"] == "Acme/2025/03/DN-1.v2.pdf"
    assert first.pdf.read_bytes()[:5] == b"%PDF-"


def test_quarantine_keeps_both_files_with_reasons(tmp_path: Path) -> None:
    q = tmp_path / "q"
    for _ in range(2):
        f = tmp_path / "x.pdf"
        f.write_bytes(b"")
        quarantine(f, BadInput("empty", reason=ReasonCode.ZERO_BYTES, stage="ingest"), q, None, NOW)
    names = sorted(p.name for p in (q / "2026-11-24").iterdir())
    assert names == ["x.2.pdf", "x.2.pdf.reason.json", "x.pdf", "x.pdf.reason.json"]
    reason = json.loads((q / "2026-11-24/x.pdf.reason.json").read_text())
    assert reason["code"] == "bad_input.zero_bytes" and reason["stage"] == "ingest" and reason["sha256"]


@pytest.mark.parametrize("mode", ["L", "1", "RGB"])
def test_a_png_scan_is_filed_with_its_image_data_as_scanned(tmp_path: Path, mode: str) -> None:
    """The PDF holds the PNG's own compressed data (not decoded and encoded again) at its resolution."""
    import pikepdf

    from pipeline.document import Page

    src = tmp_path / "scan.png"
    img = Image.effect_noise((640, 880), 60).convert(mode)
    img.save(src, dpi=(200, 200), compress_level=1)  # not what Pillow would write again (level 6)
    data = src.read_bytes()
    idat, at = b"", 8
    while at < len(data):  # the PNG's IDAT chunks, concatenated
        size = int.from_bytes(data[at : at + 4], "big")
        if data[at + 4 : at + 8] == b"IDAT":
            idat += data[at + 8 : at + 8 + size]
        at += 12 + size
    doc = ScanDoc(src, "ab" * 32, (Page(1, dpi=200),), "signoff", "DN-9", "barcode", {})
    filed = file_document(doc, tmp_path / "archive", "png", NOW)
    with pikepdf.open(filed.pdf) as pdf:
        page = pdf.pages[0]
        xobjects = page.Resources.XObject
        (image,) = [xobjects[k] for k in xobjects.keys()]
        assert image.read_raw_bytes() == idat
        assert [round(float(v)) for v in page.mediabox[2:]] == [round(640 * 72 / 200), round(880 * 72 / 200)]
