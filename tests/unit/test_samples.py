"""The sample sheet generator: determinism, truth round-trips, demo set composition, decodable barcodes."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image, ImageSequence

from pipeline.samples import (
    CUSTOMERS,
    REFERENCE_DATE,
    SampleFile,
    SheetTruth,
    degrade,
    format_time,
    load_truth,
    page_size,
    random_sheet,
    render_sheet,
    write_customers_csv,
    write_demo_set,
    write_truth,
)
from pipeline.samples.__main__ import main

DPI = 150  # fast; the 300 dpi set is checked by hand and in the end-to-end tests
_SHAPES = ("%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%d.%m.%Y %H:%M", "%d %b %Y %H:%M", "%m/%d/%Y %I:%M %p")


def _parse_time_text(text: str) -> datetime:
    m = re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日 (\d\d):(\d\d)", text)
    if m:
        return datetime(*(int(g) for g in m.groups()))  # type: ignore[misc]
    for shape in _SHAPES:
        try:
            return datetime.strptime(text, shape)
        except ValueError:
            continue
    raise AssertionError(f"unexpected time shape {text!r}")


def _pages_of(path: Path) -> list[Image.Image]:
    """Every page of a sample file as an image (PDF pages: the embedded scan, no poppler needed)."""
    if path.suffix == ".pdf":
        with pikepdf.open(path) as pdf:
            found = [p.get_images() if hasattr(p, "get_images") else p.images for p in pdf.pages]
            return [pikepdf.PdfImage(next(iter(images.values()))).as_pil_image() for images in found]
    with Image.open(path) as im:
        return [frame.copy() for frame in ImageSequence.Iterator(im)]


def _decode(page: Image.Image) -> set[tuple[str, str]]:
    from pyzbar.pyzbar import decode

    return {(r.type, r.data.decode("utf-8")) for r in decode(page)}


_SYMBOLS = {"code128": {"CODE128"}, "qr": {"QRCODE"}, "both": {"CODE128", "QRCODE"}}


def _expected_codes(sheet: SheetTruth, page: int) -> set[tuple[str, str]]:
    return {(sym, sheet.barcode_payloads[page]) for sym in _SYMBOLS[sheet.barcode]}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> list[SampleFile]:
    return write_demo_set(tmp_path_factory.mktemp("demo"), seed=7, dpi=DPI)


# -- choosing sheets ---------------------------------------------------------------------------


def test_random_sheet_is_deterministic_and_honours_fixed_choices() -> None:
    a = random_sheet(
        random.Random(3), language="sv", layout="above", signed=False, time_style="stamped", barcode="qr", pages=2
    )
    b = random_sheet(
        random.Random(3), language="sv", layout="above", signed=False, time_style="stamped", barcode="qr", pages=2
    )
    assert a == b
    assert (a.language, a.layout, a.signed, a.time_style, a.barcode, a.pages) == (
        "sv",
        "above",
        False,
        "stamped",
        "qr",
        2,
    )
    assert a.barcode_payloads == (f"{a.delivery_number} 1/2", f"{a.delivery_number} 2/2")


@pytest.mark.parametrize("seed", range(40))
def test_random_sheet_is_consistent(seed: int) -> None:
    rng = random.Random(seed)
    sheet = random_sheet(rng, date_order=rng.choice(("DMY", "MDY")))
    assert re.fullmatch(r"DN-\d{4}-\d{6}", sheet.delivery_number)
    assert 1 <= len(sheet.items) <= 6 and all(i.qty > 0 and i.sku.isascii() for i in sheet.items)
    assert (sheet.customer_id, sheet.customer) in {(c.id, c.name) for c in CUSTOMERS}
    assert 1 <= len(sheet.address) <= 2
    if sheet.time_style == "empty":
        assert sheet.time is None and sheet.time_text is None
        return
    assert sheet.time is not None and sheet.time_text is not None
    moment = datetime.strptime(sheet.time, "%Y-%m-%dT%H:%M")
    assert _parse_time_text(sheet.time_text) == moment
    assert sheet.delivery_number.split("-")[1] == str(moment.year)
    assert REFERENCE_DATE - timedelta(days=61) <= moment.date() < REFERENCE_DATE
    assert 7 <= moment.hour <= 17


def test_date_order_decides_the_slash_shape() -> None:
    dmy = {random_sheet(random.Random(s), language="en", time_style="printed").time_text for s in range(60)}
    mdy = {
        random_sheet(random.Random(s), language="en", time_style="printed", date_order="MDY").time_text
        for s in range(60)
    }
    assert not any(t and t.endswith(("AM", "PM")) for t in dmy)
    assert any(t and t.endswith(("AM", "PM")) for t in mdy)
    assert not any(t and re.match(r"\d\d\.\d\d\.", t) for t in mdy)  # dotted dates are day-first: not in MDY


def test_format_time_shapes() -> None:
    t = datetime(2025, 3, 14, 15, 5)
    assert format_time(t, "iso") == "2025-03-14 15:05"
    assert format_time(t, "dmy_slash") == "14/03/2025 15:05"
    assert format_time(t, "dmy_dot") == "14.03.2025 15:05"
    assert format_time(t, "mdy_slash") == "03/14/2025 03:05 PM"
    assert format_time(t, "cjk") == "2025年3月14日 15:05"
    assert format_time(t, "dmon") == "14 Mar 2025 15:05"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"language": "de"},
        {"layout": "right"},
        {"time_style": "handwritten"},
        {"barcode": "ean13"},
        {"pages": 3},
        {"date_order": "YMD"},
    ],
)
def test_random_sheet_rejects_unknown_choices(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        random_sheet(random.Random(0), **kwargs)  # type: ignore[arg-type]


# -- truth -------------------------------------------------------------------------------------


def test_truth_json_round_trip(tmp_path: Path) -> None:
    sheets = [random_sheet(random.Random(s), pages=1 + s % 2) for s in range(6)]
    for sheet in sheets:
        data = json.loads(json.dumps(sheet.to_json(), ensure_ascii=False))
        assert SheetTruth.from_json(data) == sheet
    files = [
        SampleFile(tmp_path / "scan-0001.pdf", tuple(sheets[:2]), ("sheet", "blank", "sheet", "sheet")),
        SampleFile(tmp_path / "scan-0002.png", (sheets[2],), ("sheet",)),
    ]
    write_truth(files, tmp_path / "truth.json")
    assert load_truth(tmp_path / "truth.json") == files


def test_expected_status_follows_the_sheet() -> None:
    sheet = random_sheet(random.Random(1), time_style="empty", signed=False)
    assert sheet.expected_status == {"customer": "ok", "items": "ok", "time": "missing", "signature": "missing"}
    assert not sheet.complete
    sheet = random_sheet(random.Random(1), time_style="stamped", signed=True)
    assert sheet.expected_status["time"] == "ok" and sheet.complete


def test_customers_csv(tmp_path: Path) -> None:
    write_customers_csv(tmp_path / "customers.csv")
    with (tmp_path / "customers.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["id"], r["name"]) for r in rows] == [(c.id, c.name) for c in CUSTOMERS]
    assert len({r["id"] for r in rows}) == len(rows) >= 10
    names = " ".join(r["name"] for r in rows)
    assert any(ch in names for ch in "åäö") and any("\u4e00" <= ch <= "\u9fff" for ch in names)


# -- rendering and degrading -------------------------------------------------------------------


def test_render_is_deterministic_and_a4() -> None:
    sheet = random_sheet(random.Random(5), pages=2, time_style="stamped", signed=True)
    first = render_sheet(sheet, dpi=DPI, rng=random.Random(9))
    again = render_sheet(sheet, dpi=DPI, rng=random.Random(9))
    assert len(first) == 2
    assert [p.tobytes() for p in first] == [p.tobytes() for p in again]
    assert all(p.mode == "RGB" and p.size == page_size(DPI) == (1240, 1754) for p in first)
    assert page_size(300) == (2480, 3508)
    assert render_sheet(sheet, dpi=DPI)[0].tobytes() == render_sheet(sheet, dpi=DPI)[0].tobytes()


def test_degrade_is_deterministic_and_mild() -> None:
    page = render_sheet(random_sheet(random.Random(2)), dpi=DPI, rng=random.Random(2))[0]
    a = degrade(page, random.Random(4))
    b = degrade(page, random.Random(4))
    assert a.tobytes() == b.tobytes()
    assert a.size == page.size and a.mode in ("L", "RGB")
    assert 235 < np.asarray(a.convert("L")).mean() < 255  # still mostly white paper
    assert degrade(page, random.Random(4), level="none").tobytes() == page.tobytes()
    with pytest.raises(ValueError):
        degrade(page, random.Random(4), level="harsh")


@pytest.mark.parametrize("kind", ["code128", "qr", "both"])
@pytest.mark.parametrize("pages", [1, 2])
def test_barcodes_decode_after_degrade(kind: str, pages: int) -> None:
    rng = random.Random(f"{kind}{pages}")
    sheet = random_sheet(rng, barcode=kind, pages=pages)
    for i, page in enumerate(render_sheet(sheet, dpi=DPI, rng=rng)):
        assert _decode(degrade(page, rng)) == _expected_codes(sheet, i)


# -- the demo set ------------------------------------------------------------------------------


def test_demo_set_files(demo: list[SampleFile]) -> None:
    assert 10 <= len(demo) <= 14
    outdir = demo[0].path.parent
    assert sorted(p.name for p in outdir.iterdir()) == sorted(f.path.name for f in demo)  # no truth in outdir
    assert all(re.fullmatch(r"(scan|batch)-\d{4}\.(png|jpg|pdf|tif)", f.path.name) for f in demo)
    assert {f.path.suffix for f in demo} == {".png", ".jpg", ".pdf", ".tif"}
    for f in demo:
        pages = _pages_of(f.path)
        assert len(pages) == len(f.page_kinds) == sum(s.pages for s in f.sheets) + f.page_kinds.count("blank")
        assert all(p.size == page_size(DPI) for p in pages)
    tiff = next(f for f in demo if f.path.suffix == ".tif")
    assert len(tiff.sheets) == 2
    batch = next(f for f in demo if f.path.name.startswith("batch"))
    assert batch.path.suffix == ".pdf" and len(batch.sheets) == 3
    assert batch.page_kinds == ("sheet", "blank", "sheet", "sheet")
    assert any(f.path.suffix == ".pdf" and f.sheets[0].pages == 2 and len(f.sheets) == 1 for f in demo)
    assert [f.path.suffix for f in demo if len(f.page_kinds) == 1].count(".pdf") >= 1


def test_demo_set_covers_the_variations(demo: list[SampleFile]) -> None:
    sheets = [s for f in demo for s in f.sheets]
    assert {s.language for s in sheets} == {"en", "sv", "zh"}
    assert {s.layout for s in sheets} == {"left", "above"}
    assert {s.time_style for s in sheets} == {"printed", "stamped", "empty"}
    assert {s.barcode for s in sheets} == {"code128", "qr", "both"}
    assert sum(not s.signed for s in sheets) >= 3
    assert sum(s.time is None for s in sheets) >= 1
    assert len({s.delivery_number for s in sheets}) == len(sheets)


def test_demo_set_truth_round_trips(demo: list[SampleFile], tmp_path: Path) -> None:
    write_truth(demo, tmp_path / "truth.json")
    assert load_truth(tmp_path / "truth.json") == demo


def test_demo_barcodes_decode_on_every_page(demo: list[SampleFile]) -> None:
    for f in demo:
        sheets = iter(f.sheets)
        sheet, index = None, 0
        for kind, page in zip(f.page_kinds, _pages_of(f.path), strict=True):
            if kind == "blank":
                assert _decode(page) == set(), f.path.name
                continue
            if sheet is None or index == sheet.pages:
                sheet, index = next(sheets), 0
            assert _decode(page) == _expected_codes(sheet, index), (f.path.name, index)
            index += 1


def test_blank_page_is_nearly_white(demo: list[SampleFile]) -> None:
    batch = next(f for f in demo if "blank" in f.page_kinds)
    blank = np.asarray(_pages_of(batch.path)[batch.page_kinds.index("blank")].convert("L"))
    assert (blank < 128).mean() < 0.001


def test_cli_writes_the_set_and_its_truth(tmp_path: Path) -> None:
    out, truth, customers = tmp_path / "out", tmp_path / "truth.json", tmp_path / "customers.csv"
    assert main([str(out), "--seed", "3", "--dpi", "75", "--truth", str(truth), "--customers", str(customers)]) == 0
    files = load_truth(truth)
    assert sorted(f.path.name for f in files) == sorted(p.name for p in out.iterdir())
    assert customers.read_text(encoding="utf-8").startswith("id,name\n")
    with Image.open(io.BytesIO(files[0].path.read_bytes())) as im:
        assert im.size == page_size(75)
