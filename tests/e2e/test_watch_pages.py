"""`signoff watch` on one big batch PDF: its pages are read in both reader processes, its progress logged and shown.

The real command in a subprocess, real tesseract. The batch has just over PROGRESS_PAGES sheets,
so its reading is logged; on this machine (about five seconds a page) it takes a minute or two.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from pipeline.service.loop import HEARTBEAT
from pipeline.service.reading import PROGRESS_PAGES
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff
from tests.e2e.watching import CONFIG, Watch, batch_pdf, filed_pdfs, inbox_files, sheet_scan

pytestmark = [pytest.mark.slow, needs_tesseract]

SHEETS = PROGRESS_PAGES + 2


def test_one_batch_pdf_is_read_in_both_readers_with_its_progress_logged_and_filed_once(tmp_path: Path) -> None:
    """GIVEN `signoff watch` with two readers, and a batch PDF of 22 sheets dropped into its inbox
    WHEN it is read
    THEN both reader processes read pages of it (the line that says it is all read names the
    processes and the pages each read), its reading is logged when it starts and as it goes,
    `status` shows its pages read while it lasts, and every sheet is filed once, from the one file."""
    root = tmp_path
    (root / "signoff.toml").write_text(CONFIG)
    inbox = root / "inbox"
    inbox.mkdir()
    scans = [sheet_scan(seed) for seed in range(60, 60 + SHEETS)]
    expected = sorted(s.delivery_number for s in scans)
    assert len(set(expected)) == SHEETS

    watch = Watch(root)
    (inbox / "depot").mkdir()
    (inbox / "depot" / "batch.pdf").write_bytes(batch_pdf(scans))
    outcomes = lambda: [x for x in watch.lines() if "event" in x]  # noqa: E731
    shown: list[dict[str, Any]] = []  # what `status --json` said of the files being read, while they were
    deadline = time.monotonic() + 900
    while not outcomes():
        assert time.monotonic() < deadline, watch.log.read_text(errors="replace")[-4000:]
        assert watch.proc.poll() is None, watch.log.read_text(errors="replace")
        shown += json.loads(signoff("status", "--json", cwd=root).stdout)["reading"]
        time.sleep(2.0)
    assert watch.stop(signal.SIGTERM) == 0

    (outcome,) = outcomes()
    assert (outcome["event"], outcome["source"]) == ("filed", "depot/batch.pdf")
    assert len(outcome["sheets"]) == SHEETS
    assert sorted(p.stem for p in filed_pdfs(root)) == expected  # each sheet once, never a second version
    assert inbox_files(root) == []

    about = [x for x in watch.lines() if x.get("source") == "depot/batch.pdf" and "event" not in x]
    start, *going, done = about
    assert start["message"] == f"reading depot/batch.pdf: {SHEETS} pages, in up to 2 processes"
    assert done["message"].startswith(f"depot/batch.pdf: all {SHEETS} pages read in ")
    # Both readers read pages of the one file: each process's own count, as this process got its pages.
    readers = done["readers"]
    assert len(readers) == 2 and all(n >= 1 for n in readers.values()) and sum(readers.values()) == SHEETS
    assert done["message"].endswith("by 2 process(es)")
    assert str(watch.proc.pid) not in readers
    counts = [x["pages_read"] for x in going]
    assert counts == sorted(counts) and all(0 < n < SHEETS for n in counts)
    assert all(x["message"] == f"depot/batch.pdf: {n} of {SHEETS} pages read" for x, n in zip(going, counts))

    # A heartbeat every HEARTBEAT seconds carries the pages read: a reading this long was seen.
    if done["seconds"] >= 2 * HEARTBEAT:  # so a beat came at least HEARTBEAT seconds before its end
        assert shown, "status never showed the batch being read"
    assert all(x["name"] == "depot/batch.pdf" and x["pages_total"] == SHEETS for x in shown)
    assert [x["pages_read"] for x in shown] == sorted(x["pages_read"] for x in shown)

    proc = signoff("verify", "--json", cwd=root)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
    hits = jsonl(signoff("search", "--json", "--limit", "50", "version:all", "kind:signoff", cwd=root).stdout)
    assert sorted(h["delivery_number"] for h in hits) == expected
