"""`signoff process --workers 2`: a batch PDF and single sheets, their pages read in two processes, all filed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pipeline.samples import PlannedFile, SheetTruth, random_sheet, write_planned_file
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]

ROW_KEYS = {"source", "pages", "kind", "delivery_number", "customer", "date", "statuses", "complete", "outcome", "path"}


def write_inbox(inbox: Path) -> dict[str, list[SheetTruth]]:
    """A three-sheet batch PDF and two single-sheet PDFs (English, 200 dpi): file name -> its sheets."""
    rng = random.Random(21)
    sheets: list[SheetTruth] = []
    while len(sheets) < 5:
        sheet = random_sheet(rng, language="en")
        if sheet.delivery_number not in {s.delivery_number for s in sheets}:
            sheets.append(sheet)
    plans = [
        PlannedFile("batch.pdf", 200, tuple(sheets[:3])),
        PlannedFile("single-1.pdf", 200, (sheets[3],)),
        PlannedFile("single-2.pdf", 200, (sheets[4],)),
    ]
    inbox.mkdir()
    for plan in plans:
        write_planned_file(inbox / plan.name, plan, "scanner", random.Random(plan.name))
    return {plan.name: list(plan.sheets) for plan in plans}


def test_process_with_two_workers_files_every_sheet_of_a_batch_and_single_sheets(tmp_path: Path) -> None:
    """GIVEN an inbox with a three-sheet batch PDF and two single-sheet PDFs
    WHEN `signoff process --workers 2 --json` runs on them
    THEN every sheet is filed with the delivery number the generator printed, the rows come in
    file and page order with the usual fields, and the originals have left the inbox."""
    truth = write_inbox(tmp_path / "inbox")
    files = [f"inbox/{name}" for name in truth]
    proc = signoff("--languages", "eng", "process", "--workers", "2", "--json", *files, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = jsonl(proc.stdout)
    assert [(r["source"], r["delivery_number"]) for r in rows] == [
        (f"inbox/{name}", s.delivery_number) for name, sheets in truth.items() for s in sheets
    ]
    assert all(set(r) == ROW_KEYS and r["outcome"] == "filed" for r in rows)
    assert [r["pages"] for r in rows if r["source"] == "inbox/batch.pdf"] == [[1], [2], [3]]
    for row in rows:
        side = json.loads((tmp_path / row["path"]).with_suffix(".json").read_text(encoding="utf-8"))
        assert side["delivery_number"] == row["delivery_number"]
    assert list((tmp_path / "inbox").iterdir()) == []
