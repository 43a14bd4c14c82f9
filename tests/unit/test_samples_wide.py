"""The wide benchmark corpus: rates, determinism, truth round-trips, rotated and bitonal pages, and the scoring."""

from __future__ import annotations

import dataclasses
import json
import random
from collections import Counter
from pathlib import Path

import pikepdf
import pytest
from PIL import Image, ImageSequence

from pipeline.samples import (
    LANGUAGES,
    OtherPage,
    SampleFile,
    SheetTruth,
    load_truth,
    page_size,
    plan_corpus,
    random_sheet,
    render_other_page,
    render_sheet,
    write_corpus,
    write_planned_file,
    write_truth,
)
from pipeline.samples.score import format_score, match_records, score


def _pages_of(path: Path) -> list[Image.Image]:
    """Every page of a file as an image (PDF pages: the embedded scan, no poppler needed)."""
    if path.suffix == ".pdf":
        with pikepdf.open(path) as pdf:
            found = [p.get_images() if hasattr(p, "get_images") else p.images for p in pdf.pages]
            return [pikepdf.PdfImage(next(iter(images.values()))).as_pil_image() for images in found]
    with Image.open(path) as im:
        return [frame.copy() for frame in ImageSequence.Iterator(im)]


# -- planning: rates without rendering -----------------------------------------------------------


def test_plan_rates_are_roughly_right() -> None:
    plans = plan_corpus(count=400, seed=3)
    sheets = [s for p in plans for s in p.sheets]
    kinds = Counter(k for p in plans for k in p.page_kinds)
    others = kinds["other"]
    assert len(sheets) + others == 400
    assert others == 20  # 5% of documents
    n = len(sheets)
    assert sum(not s.signed for s in sheets) == round(0.15 * n)
    assert sum(s.time is None for s in sheets) == round(0.10 * n)
    assert sum(not s.customer for s in sheets) == round(0.03 * n)
    assert sum(not s.items for s in sheets) == round(0.03 * n)
    assert sum(s.rotation != 0 for s in sheets) == round(0.05 * n)
    assert {s.rotation for s in sheets} == {0, 90, 180, 270}
    assert 0.02 < kinds["blank"] / sum(kinds.values()) < 0.09
    langs = Counter(s.language for s in sheets)
    assert set(langs) == set(LANGUAGES) and max(langs.values()) - min(langs.values()) <= 25
    assert {s.layout for s in sheets} == {"left", "above"}
    exts = Counter(p.name.rsplit(".", 1)[1] for p in plans)
    assert set(exts) == {"pdf", "tif", "png", "jpg"}
    assert any(p.name.startswith("batch") and 2 <= len(p.entries) for p in plans)
    assert len({s.delivery_number for s in sheets}) == n
    assert all(p.dpi in (200, 240, 300) for p in plans)
    blank_sheets = [s for s in sheets if not s.customer or not s.items]
    assert all(not s.complete for s in blank_sheets)
    assert all(s.pages == 1 for s in sheets if not s.items)


def test_plan_is_deterministic_and_profiles_share_the_sheets() -> None:
    a = plan_corpus(count=60, seed=5)
    assert a == plan_corpus(count=60, seed=5)
    assert a != plan_corpus(count=60, seed=6)
    heavy = plan_corpus(count=60, seed=5, profile="heavy")
    assert {s.delivery_number for p in heavy for s in p.sheets} == {s.delivery_number for p in a for s in p.sheets}
    assert all(p.dpi == 150 and not p.name.endswith(".jpg") for p in heavy)


@pytest.mark.parametrize("kwargs", [{"profile": "fax"}, {"date_order": "YMD"}, {"count": 0}])
def test_plan_rejects_bad_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        plan_corpus(**kwargs)  # type: ignore[arg-type]


def test_blank_fields_render_and_expect_missing() -> None:
    sheet = dataclasses.replace(random_sheet(random.Random(2)), customer="", customer_id="", address=(), items=())
    assert sheet.expected_status["customer"] == "missing" and sheet.expected_status["items"] == "missing"
    assert not sheet.complete
    (page,) = render_sheet(sheet, dpi=100, rng=random.Random(1))
    assert page.size == page_size(100)
    with pytest.raises(ValueError):
        render_sheet(dataclasses.replace(sheet, pages=2), dpi=100)


def test_other_page_has_no_sheet_labels() -> None:
    for lang in LANGUAGES:
        for kind in ("invoice", "letter"):
            page = render_other_page(OtherPage(kind=kind, language=lang, seed=4), dpi=100)
            assert page.size == page_size(100) and page.getextrema() != ((255, 255),) * 3


# -- truth JSON ------------------------------------------------------------------------------------


def test_truth_round_trip_with_new_fields(tmp_path: Path) -> None:
    sheet = dataclasses.replace(random_sheet(random.Random(1)), rotation=270, customer="", customer_id="", items=())
    data = json.loads(json.dumps(sheet.to_json(), ensure_ascii=False))
    assert data["rotation"] == 270 and data["expected"]["items"] == "missing"
    assert SheetTruth.from_json(data) == sheet
    upright = random_sheet(random.Random(1))
    assert "rotation" not in upright.to_json()  # old truth (and render seeds) unchanged
    files = [
        SampleFile(tmp_path / "a.pdf", (sheet,), ("sheet", "blank", "other"), profile="heavy", dpi=150),
        SampleFile(tmp_path / "b.png", (upright,), ("sheet",)),
    ]
    write_truth(files, tmp_path / "truth.json")
    assert load_truth(tmp_path / "truth.json") == files
    old = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    del old["files"][0]["profile"], old["files"][0]["dpi"], old["files"][0]["sheets"][0]["rotation"]
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    loaded = load_truth(tmp_path / "old.json")[0]
    assert loaded.profile is None and loaded.dpi is None and loaded.sheets[0].rotation == 0


# -- writing a small corpus -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[SampleFile]]:
    root = tmp_path_factory.mktemp("wide")
    # The plan is drawn at the profile's dpi; 100-150 dpi keeps this fast. Scanner dpi is 200-300, so for
    # speed the scanner corpus is small.
    return {
        "scanner": write_corpus(root / "scanner", count=8, seed=11, profile="scanner"),
        "heavy": write_corpus(root / "heavy", count=12, seed=11, profile="heavy"),
    }


def test_corpus_files_match_their_truth(small: dict[str, list[SampleFile]]) -> None:
    for profile, files in small.items():
        docs = sum(len(f.sheets) for f in files) + sum(f.page_kinds.count("other") for f in files)
        assert docs == (8 if profile == "scanner" else 12)
        outdir = files[0].path.parent
        assert sorted(p.name for p in outdir.iterdir()) == sorted(f.path.name for f in files)
        for f in files:
            assert f.profile == profile and f.dpi is not None
            pages = _pages_of(f.path)
            assert len(pages) == len(f.page_kinds) == sum(s.pages for s in f.sheets) + sum(
                k != "sheet" for k in f.page_kinds
            )
            if profile == "heavy":
                assert all(p.mode == "1" for p in pages), f.path.name
            else:
                assert all(p.mode == "L" for p in pages), f.path.name


def test_corpus_is_deterministic(small: dict[str, list[SampleFile]], tmp_path: Path) -> None:
    again = write_corpus(tmp_path, count=12, seed=11, profile="heavy")
    first = small["heavy"]
    assert [f.path.name for f in again] == [f.path.name for f in first]
    assert [f.sheets for f in again] == [f.sheets for f in first]
    for a, b in zip(again, first, strict=True):  # pixels, not bytes: a PDF's /ID is not reproducible
        assert [p.tobytes() for p in _pages_of(a.path)] == [p.tobytes() for p in _pages_of(b.path)]


def test_rotated_pages_are_really_rotated(tmp_path: Path) -> None:
    plans = plan_corpus(count=60, seed=2, profile="heavy")
    plan = next(p for p in plans if any(s.rotation in (90, 270) for s in p.sheets))
    f = write_planned_file(tmp_path / plan.name, plan, "heavy", random.Random(1))
    portrait = page_size(150)
    pages = iter(_pages_of(f.path))
    sheets = iter(f.sheets)
    seen = 0
    for kind in f.page_kinds:
        if kind != "sheet":
            assert next(pages).size == portrait  # blank back sides and other documents stay portrait
            continue
        if seen == 0:
            sheet, seen = next(sheets), 0
        want = portrait[::-1] if sheet.rotation in (90, 270) else portrait
        assert next(pages).size == want
        seen = (seen + 1) % sheet.pages
    assert any(s.rotation in (90, 270) for s in f.sheets)


def test_blank_back_side_has_faint_bleed_through(tmp_path: Path) -> None:
    plans = plan_corpus(count=120, seed=4)
    assert any(None in p.entries for p in plans)
    from pipeline.samples.wide import _bleed_through

    front = render_sheet(random_sheet(random.Random(3)), dpi=100, rng=random.Random(3))[0]
    back = _bleed_through(front, 100, random.Random(1)).convert("L")
    lo, hi = back.getextrema()
    assert 210 <= lo <= 240 and hi == 255
    assert back.size == front.size


# -- scoring ---------------------------------------------------------------------------------------


def _record(source: Path, sheet: SheetTruth, pages: list[int], **changes: object) -> dict[str, object]:
    rec: dict[str, object] = {
        "source": str(source),
        "pages": pages,
        "kind": "signoff",
        "delivery_number": sheet.delivery_number,
        "fields": {
            "customer": {"status": "ok" if sheet.customer else "missing", "value": sheet.customer or None},
            "items": {
                "status": "ok" if sheet.items else "missing",
                "value": [{"sku": i.sku, "description": i.description, "qty": i.qty} for i in sheet.items],
            },
            "time": {"status": "ok" if sheet.time else "missing", "value": sheet.time},
            "receiver": {"status": "missing", "value": None},
            "signature": {"status": "ok" if sheet.signed else "missing"},
        },
        "complete": sheet.complete,
    }
    rec.update(changes)
    return rec


def _sheet(seed: int, **changes: object) -> SheetTruth:
    sheet = random_sheet(random.Random(seed), time_style="printed", signed=True)
    return dataclasses.replace(sheet, **changes)  # type: ignore[arg-type]


def test_score_on_hand_made_records(tmp_path: Path) -> None:
    a = _sheet(1, language="en")
    b = _sheet(2, language="sv", signed=False)
    c = _sheet(3, language="zh", time=None, time_text=None, time_style="empty")
    d = _sheet(4, language="en")
    batch = SampleFile(tmp_path / "batch-0001.pdf", (a, b, c), ("sheet", "blank", "sheet", "other", "sheet"), "scanner")
    single = SampleFile(tmp_path / "scan-0002.png", (d,), ("sheet",), "heavy", 150)
    bad_items = [{"sku": i.sku, "qty": i.qty + 1} for i in b.items[:1]] + [
        {"sku": i.sku, "qty": i.qty} for i in b.items[1:]
    ]
    records = [
        _record(batch.path, a, [1]),  # perfect
        {"source": str(batch.path), "pages": [2], "kind": "signoff", "fields": {}, "complete": False},  # blank page
        # b: delivery number misread (matched by page), first item's qty wrong, said complete although unsigned
        _record(
            batch.path,
            b,
            [3],
            delivery_number="DN-0000-000000",
            complete=True,
            fields={
                **_record(batch.path, b, [3])["fields"],  # type: ignore[dict-item]
                "items": {"status": "ok", "value": bad_items},
                "signature": {"status": "ok"},
            },
        ),
        {"source": str(batch.path), "pages": [4], "kind": "other", "fields": {}, "complete": False},
        _record(batch.path, c, [5]),  # empty time reported missing
        # d is not found at all
    ]
    matches = match_records([batch, single], records)
    assert [rec is not None for _, rec in matches[0].sheets] == [True, True, True]
    assert matches[0].blank_reported == 1 and matches[0].other_outcomes == ("other",) and matches[0].extra == 0
    assert matches[1].sheets[0][1] is None

    result = score([batch, single], records)
    g = result["groups"]["all"]
    assert g["sheets"] == 4 and g["found"] == 3
    assert g["delivery_number"] == {"correct": 2, "total": 4, "accuracy": 0.5}
    assert g["customer"]["correct"] == 3
    n_items = sum(len(s.items) for s in (a, b, c, d))
    assert g["items"]["tp"] == n_items - 1 - len(d.items)
    assert g["items"]["fp"] == 1 and g["items"]["fn"] == 1 + len(d.items)
    assert g["time"] == {"correct": 2, "total": 3, "accuracy": pytest.approx(2 / 3)}
    assert g["time_missing"]["correct"] == g["time_missing"]["total"] == 1
    assert g["signature"]["correct"] == 2  # b's ink reported on an unsigned sheet; d not found
    inc = g["incomplete"]
    assert (inc["tp"], inc["fp"], inc["fn"], inc["tn"]) == (1, 0, 1, 1)
    assert inc["recall"] == 0.5 and inc["precision"] == 1.0 and inc["not_found"] == 0
    docs = g["documents"]
    assert docs["expected"] == 5 and docs["blank_reported"] == 1 and docs["other_as_other"] == 1
    assert docs["sheets_missed"] == 1
    assert result["groups"]["lang=sv"]["sheets"] == 1
    assert result["groups"]["lang=en"]["found"] == 1 and result["groups"]["lang=en"]["sheets"] == 2
    assert result["groups"]["profile=heavy"]["found"] == 0
    assert result["groups"]["profile=scanner"]["documents"]["blank_reported"] == 1
    table = format_score(result)
    assert "lang=zh" in table and "profile=heavy" in table and "INCOMPLETE" in table
    json.dumps(result)


def test_score_matches_by_order_when_pages_are_missing(tmp_path: Path) -> None:
    a, b = _sheet(5), _sheet(6)
    f = SampleFile(tmp_path / "scan-0001.tif", (a, b), ("sheet", "sheet"))
    records = [_record(f.path, a, [], delivery_number=None), _record(f.path, b, [], delivery_number=None)]
    (m,) = match_records([f], records)
    assert [rec for _, rec in m.sheets] == records
    extra = _record(f.path, a, [1])
    (m,) = match_records([f], [*records, extra])
    assert m.extra == 1


# -- the benchmark script's reader runner -----------------------------------------------------------


def _accuracy_script() -> object:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "accuracy.py"
    spec = importlib.util.spec_from_file_location("accuracy_script", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_accuracy_script_runs_chunks_and_detects_a_crash(tmp_path: Path) -> None:
    import sys

    acc = _accuracy_script()
    files = [SampleFile(tmp_path / f"scan-{i:04d}.png", (), ("sheet",)) for i in range(5)]
    # A fake reader: one record per file argument (the arguments after "--json").
    fake = "import json, sys; args = sys.argv[sys.argv.index('--json') + 1:]; "
    fake += "[print(json.dumps({'source': a, 'pages': [1]})) for a in args]; sys.exit(1)"
    records = acc._read(files, tmp_path, 3, [sys.executable, "-c", fake])  # type: ignore[attr-defined]
    assert sorted(r["source"] for r in records) == sorted(str(f.path.resolve()) for f in files)
    assert (tmp_path / "records.jsonl").exists() and (tmp_path / "customers.csv").exists()
    crash = [sys.executable, "-c", "raise RuntimeError('boom')"]
    with pytest.raises(acc.ReaderCrashed):  # type: ignore[attr-defined]
        acc._read(files, tmp_path, 2, crash)  # type: ignore[attr-defined]
