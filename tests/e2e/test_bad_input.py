"""Bad input beside good input: one clear line, quarantine with a reason, the good file filed; exit codes."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pikepdf
import pytest

from pipeline.samples import degrade, random_sheet, render_sheet
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]


@pytest.fixture(scope="module")
def good_scan(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    rng = random.Random(11)
    sheet = random_sheet(rng, language="en", layout="left", signed=True, time_style="printed")
    page = degrade(render_sheet(sheet, dpi=200, rng=rng)[0], rng).convert("L")
    path = tmp_path_factory.mktemp("good") / "good.png"
    page.save(path, dpi=(200, 200))
    return path, sheet.delivery_number


def test_bad_files_are_quarantined_and_good_ones_filed(tmp_path: Path, good_scan) -> None:
    """GIVEN an inbox with a good scan, an empty file, a text file named .jpg and an encrypted PDF
    WHEN `signoff watch --once` runs
    THEN the good scan is filed, each bad file sits in _quarantine/DAY with a reason file,
    the inbox is empty, and the exit code is 1 so cron can tell someone."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy2(good_scan[0], inbox / "good.png")
    (inbox / "empty.pdf").write_bytes(b"")
    (inbox / "notes.jpg").write_text("not an image")
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(inbox / "locked.pdf", encryption=pikepdf.Encryption(owner="o", user="u"))
    (inbox / ".~partial.pdf").write_bytes(b"%PDF-")  # hidden: a scanner still writing; left alone

    proc = signoff("watch", "--once", "--json", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    rows = {Path(r["source"]).name: r for r in jsonl(proc.stdout)}
    assert rows["good.png"]["delivery_number"] == good_scan[1] and rows["good.png"]["outcome"] == "filed"
    codes = {
        "empty.pdf": "bad_input.zero_bytes",
        "notes.jpg": "bad_input.unsupported_type",
        "locked.pdf": "bad_input.encrypted_pdf",
    }
    day_dirs = list((tmp_path / "archive" / "_quarantine").iterdir())
    assert len(day_dirs) == 1
    for name, code in codes.items():
        assert rows[name]["outcome"] == "quarantined" and rows[name]["reason"] == code
        assert (day_dirs[0] / name).exists()
        reason = json.loads((day_dirs[0] / f"{name}.reason.json").read_text())
        assert reason["code"] == code and reason["message"] and reason["stage"] and reason["at"]
    assert sorted(p.name for p in inbox.iterdir()) == [".~partial.pdf"]


def test_inspect_prints_one_line_per_bad_file(tmp_path: Path) -> None:
    (tmp_path / "empty.tif").write_bytes(b"")
    proc = signoff("inspect", "empty.tif", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == ["signoff: empty.tif: empty.tif is empty (0 bytes) [bad_input.zero_bytes]"]


def test_exit_code_usage(tmp_path: Path) -> None:
    assert signoff("process", "--no-such-flag", cwd=tmp_path).returncode == 2
    (tmp_path / "signoff.toml").write_text('date_order = "YMD"\n')
    proc = signoff("search", "x", cwd=tmp_path)
    assert proc.returncode == 2 and "date_order" in proc.stderr


def test_exit_code_tool_missing(tmp_path: Path, good_scan) -> None:
    """Without tesseract on PATH the run stops before touching any file, with exit code 3."""
    shutil.copy2(good_scan[0], tmp_path / "x.png")
    proc = signoff("inspect", "x.png", cwd=tmp_path, env={"PATH": "/nonexistent"})
    assert proc.returncode == 3 and "tesseract" in proc.stderr


def test_exit_code_archive_unwritable(tmp_path: Path, good_scan) -> None:
    """An archive that cannot be written (here: a file where a folder should be) exits 4 and
    leaves the scan in the inbox to be tried again."""
    (tmp_path / "inbox").mkdir()
    shutil.copy2(good_scan[0], tmp_path / "inbox" / "x.png")
    (tmp_path / "blocker").write_text("")
    proc = signoff("--archive", "blocker/archive", "watch", "--once", cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert (tmp_path / "inbox" / "x.png").exists()


def test_exit_code_ok_and_help(tmp_path: Path) -> None:
    proc = signoff("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for command in ("inspect", "process", "watch", "search", "reindex", "demo", "samples"):
        assert command in proc.stdout
        assert signoff(command, "--help", cwd=tmp_path).returncode == 0
