"""On a terminal, `signoff process` shows a progress bar that counts pages, so one big batch PDF shows progress."""

from __future__ import annotations

import os
import pty
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.samples import PlannedFile, random_sheet, write_planned_file
from tests.conftest import needs_tesseract

pytestmark = [pytest.mark.slow, needs_tesseract]


def _run_on_a_terminal(argv: list[str], cwd: Path) -> tuple[int, str]:
    """Run argv with its stderr on a pseudo-terminal (as a person at a shell has it); what it drew there."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=follower)
    os.close(follower)
    drawn = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    return proc.wait(timeout=1200), drawn.decode("utf-8", "replace")


def test_one_batch_pdf_shows_its_pages_being_read(tmp_path: Path) -> None:
    """GIVEN one four-sheet batch PDF in the inbox
    WHEN `signoff process` runs with its stderr on a terminal
    THEN a "reading pages" bar is drawn, counting up to 4 of 4 pages (not 1 file), and the run succeeds."""
    rng = random.Random(5)
    sheets = []
    while len(sheets) < 4:
        sheet = random_sheet(rng, language="en")
        if sheet.delivery_number not in {s.delivery_number for s in sheets}:
            sheets.append(sheet)
    (tmp_path / "inbox").mkdir()
    plan = PlannedFile("batch.pdf", 200, tuple(sheets))
    write_planned_file(tmp_path / "inbox" / plan.name, plan, "scanner", random.Random(plan.name))
    code, drawn = _run_on_a_terminal(
        [sys.executable, "-m", "pipeline", "--languages", "eng", "process", "--workers", "2", "inbox/batch.pdf"],
        tmp_path,
    )
    assert code == 0, drawn[-2000:]
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)
    assert "reading pages" in plain
    counts = {int(m[1]) for m in re.finditer(r"(\d+)/4\b", plain)}
    assert 4 in counts and counts <= {0, 1, 2, 3, 4}, plain[-2000:]
