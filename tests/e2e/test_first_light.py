"""First light, end to end: generated scans in an inbox come out read, checked, filed and searchable.

Real tesseract, zbar, poppler and whoosh, driven through the `signoff` command as a user would.
The generator's truth is what every value is compared against.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.filing import safe_name
from pipeline.samples import SampleFile, SheetTruth, write_customers_csv, write_demo_set
from tests.conftest import needs_tesseract

pytestmark = [pytest.mark.slow, needs_tesseract]


def signoff(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a fresh process, as cron or a person would."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1200,
    )


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="session")
def demo_set(tmp_path_factory: pytest.TempPathFactory) -> list[SampleFile]:
    return write_demo_set(tmp_path_factory.mktemp("samples"), seed=7)


@pytest.fixture(scope="session")
def customers_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The deployment's list of known customers (id,name), as an office would configure it."""
    path = tmp_path_factory.mktemp("config") / "customers.csv"
    write_customers_csv(path)
    return path


def sheets(files: list[SampleFile]) -> Iterator[tuple[SampleFile, SheetTruth]]:
    for f in files:
        for s in f.sheets:
            yield f, s


@pytest.fixture(scope="session")
def inspected(demo_set: list[SampleFile], customers_csv: Path) -> dict[str, list[dict]]:
    """`signoff inspect --json` over every demo file, grouped by file name."""
    cwd = demo_set[0].path.parent
    proc = signoff("--customers", str(customers_csv), "inspect", "--json", *(f.path.name for f in demo_set), cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, list[dict]] = {}
    for rec in jsonl(proc.stdout):
        out.setdefault(rec["source"], []).append(rec)
    return out


@pytest.fixture(scope="session")
def filed(
    demo_set: list[SampleFile], customers_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The demo files dropped into an inbox and `signoff watch --once` run over it."""
    root = tmp_path_factory.mktemp("office")
    (root / "inbox" / "scanner-2").mkdir(parents=True)
    for i, f in enumerate(demo_set):
        # One scanner per sub-folder is common; the inbox is watched recursively.
        dest = root / "inbox" / ("scanner-2" if i % 3 == 0 else "") / f.path.name
        shutil.copy2(f.path, dest)
    (root / "signoff.toml").write_text(f'customers = "{customers_csv}"\n')
    proc = signoff("watch", "--once", "--json", cwd=root)
    return root, proc


def test_inspect_finds_one_document_per_sheet_and_no_blank_page(demo_set, inspected) -> None:
    """GIVEN the demo set (a batch PDF with a blank back side, a 2-page sheet, a 2-sheet TIFF)
    WHEN it is inspected
    THEN there is exactly one record per sheet, on the right pages, and none for the blank page."""
    for f in demo_set:
        recs = inspected[f.path.name]
        assert [r["delivery_number"] for r in recs] == [s.delivery_number for s in f.sheets]
        pages = [p for r in recs for p in r["pages"]]
        expected = [i + 1 for i, k in enumerate(f.page_kinds) if k != "blank"]
        assert pages == expected, f.path.name
    two_page = [r for recs in inspected.values() for r in recs if len(r["pages"]) == 2]
    assert len(two_page) == sum(1 for _, s in sheets(demo_set) if s.pages == 2) >= 1


def test_inspect_gets_every_delivery_number_and_customer(demo_set, inspected) -> None:
    for f, s in sheets(demo_set):
        rec = next(r for r in inspected[f.path.name] if r["delivery_number"] == s.delivery_number)
        assert rec["kind"] == "signoff"
        assert rec["fields"]["customer"] == {"status": "ok", "value": s.customer}, s.delivery_number
        assert any(b["data"].split()[0] == s.delivery_number for b in rec["barcodes"])


def test_inspect_flags_every_unsigned_sheet_incomplete(demo_set, inspected) -> None:
    unsigned = 0
    for f, s in sheets(demo_set):
        rec = next(r for r in inspected[f.path.name] if r["delivery_number"] == s.delivery_number)
        assert rec["fields"]["signature"]["status"] == ("ok" if s.signed else "missing"), s.delivery_number
        assert rec["complete"] is s.complete, s.delivery_number
        unsigned += not s.signed
    assert unsigned >= 3


def test_inspect_record_shape(inspected) -> None:
    rec = next(iter(inspected.values()))[0]
    assert set(rec) >= {"source", "pages", "delivery_number", "barcodes", "fields", "complete", "text", "kind"}
    assert set(rec["fields"]) == {"customer", "items", "time", "receiver", "signature"}
    assert set(rec["fields"]["signature"]) == {"status"} or "note" in rec["fields"]["signature"]
    assert rec["barcodes"][0].keys() == {"symbology", "data", "page"}
    assert rec["text"]


def test_watch_once_files_every_sheet_at_its_place_with_true_values(demo_set, filed) -> None:
    """GIVEN the demo scans dropped into an inbox (some in a sub-folder)
    WHEN `signoff watch --once` runs
    THEN each sheet is filed as archive/<customer>/<YYYY>/<MM>/<delivery>.pdf with a sidecar
    whose values equal the generator's truth, and the inbox is empty."""
    root, proc = filed
    assert proc.returncode == 0, proc.stderr
    assert [p for p in (root / "inbox").rglob("*") if p.is_file()] == []
    rows = {r["delivery_number"]: r for r in jsonl(proc.stdout)}
    item_lines = item_right = 0
    for _, s in sheets(demo_set):
        ymd = (s.time or "")[:7].split("-") if s.time else None
        pdf = rows[s.delivery_number]["path"]
        folder = safe_name(s.customer)
        if ymd:
            assert pdf == f"archive/{folder}/{ymd[0]}/{ymd[1]}/{s.delivery_number}.pdf"
        else:  # no receipt time: filed under the month it was processed
            assert pdf.startswith(f"archive/{folder}/") and pdf.endswith(f"/{s.delivery_number}.pdf")
        path = root / pdf
        assert path.read_bytes()[:5] == b"%PDF-"
        side = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        assert side["delivery_number"] == s.delivery_number
        assert side["customer"] == s.customer and side["customer_id"] == s.customer_id
        assert side["fields"]["time"]["value"] == s.time, s.delivery_number
        assert side["fields"]["time"]["status"] == ("ok" if s.time else "missing")
        assert side["fields"]["signature"]["status"] == ("ok" if s.signed else "missing")
        assert side["complete"] is s.complete
        assert side["source"]["pages"] and len(side["source"]["sha256"]) == 64
        assert side["file"]["sha256"] and side["file"]["path"] == pdf.removeprefix("archive/")
        got = [(i["sku"], i["qty"]) for i in side["fields"]["items"]["value"] or []]
        want = [(i.sku, i.qty) for i in s.items]
        assert side["fields"]["items"]["status"] == "ok"
        assert [q for _, q in got] == [q for _, q in want], s.delivery_number
        item_lines += len(want)
        item_right += sum(g == w for g, w in zip(got, want))
    # SKU and quantity together, line by line: OCR may slip on a character now and then.
    assert item_right / item_lines >= 0.95


def test_search_finds_sheets_by_customer_and_item_word(demo_set, filed) -> None:
    root, _ = filed
    by_customer: dict[str, set[str]] = {}
    for _, s in sheets(demo_set):
        by_customer.setdefault(s.customer, set()).add(s.delivery_number)
    name, expected = next((n, d) for n, d in by_customer.items() if n.isascii() and len(d) >= 2)
    word = max(name.split(), key=len).lower()
    proc = signoff("search", "--json", "--limit", "50", f"customer:{word}", cwd=root)
    assert proc.returncode == 0, proc.stderr
    hits = jsonl(proc.stdout)
    assert {h["delivery_number"] for h in hits} == expected
    assert all(h["customer"] == name and h["path"].endswith(".pdf") for h in hits)

    # A word from one item description finds the sheets that list it.
    target = next(s for _, s in sheets(demo_set) if s.language == "en")
    item_word = next(w for i in target.items for w in i.description.split() if w.isalpha() and len(w) > 4)
    holders = {
        s.delivery_number
        for _, s in sheets(demo_set)
        if any(item_word.lower() in i.description.lower().split() for i in s.items)
    }
    proc = signoff("search", "--json", "--limit", "50", item_word.lower(), cwd=root)
    found = {h["delivery_number"] for h in jsonl(proc.stdout)}
    assert holders <= found
    assert "[[" in jsonl(proc.stdout)[0]["snippet"]

    # The text table marks the matched words too.
    proc = signoff("search", f"customer:{word}", cwd=root)
    assert proc.returncode == 0 and sorted(expected)[0] in proc.stdout


def test_reindex_rebuilds_the_same_answers(filed) -> None:
    root, _ = filed
    before = signoff("search", "--json", "--limit", "100", "date:2026", cwd=root)
    shutil.rmtree(root / "archive" / "_index")
    assert signoff("reindex", cwd=root).returncode == 0
    after = signoff("search", "--json", "--limit", "100", "date:2026", cwd=root)
    key = lambda out: sorted(h["path"] for h in jsonl(out))  # noqa: E731
    assert key(before.stdout) == key(after.stdout) and len(key(after.stdout)) >= 10


def test_the_same_scan_again_is_a_duplicate_not_a_second_filing(demo_set, filed) -> None:
    root, _ = filed
    f = demo_set[0]
    shutil.copy2(f.path, root / "inbox" / "again.png")
    proc = signoff("watch", "--once", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    (row,) = jsonl(proc.stdout)
    assert row["outcome"] == "duplicate"
    assert not (root / "inbox" / "again.png").exists()
    assert len(list((root / "archive").rglob(f"{f.sheets[0].delivery_number}*.pdf"))) == 1
