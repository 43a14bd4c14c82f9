"""pipeline.timing: per-stage seconds, off unless SIGNOFF_TIMING asks, written per process at exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline import timing

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)


def _env_without_timing() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != timing.ENV}


def test_off_by_default_and_records_nothing() -> None:
    code = (
        "from pipeline import timing\n"
        "with timing.stage('ocr'):\n    pass\n"
        "print(timing.enabled(), timing.totals())"
    )
    assert _python(code, _env_without_timing()).stdout.split() == ["False", "{}"]


def test_off_stage_is_one_shared_no_op() -> None:
    if timing.enabled():
        pytest.skip("the test run itself has SIGNOFF_TIMING set")
    assert timing.stage("ocr") is timing.stage("filing")


def test_stages_accumulate_seconds_and_calls(timed: None) -> None:
    for _ in range(3):
        with timing.stage("ocr"):
            time.sleep(0.01)
    with timing.stage("filing"):
        pass
    totals = timing.totals()
    assert list(totals) == ["ocr", "filing"]
    assert totals["ocr"]["calls"] == 3 and totals["filing"]["calls"] == 1
    assert totals["ocr"]["seconds"] >= 0.03
    assert totals["filing"]["seconds"] < totals["ocr"]["seconds"]


def test_a_nested_stage_is_not_counted_twice(timed: None) -> None:
    with timing.stage("fields"):
        with timing.stage("ocr_cells"):
            time.sleep(0.02)
    totals = timing.totals()
    assert totals["ocr_cells"]["seconds"] >= 0.02
    assert totals["fields"]["seconds"] < 0.02  # the outer stage keeps only its own time


def test_a_stage_that_raises_still_counts(timed: None) -> None:
    with pytest.raises(ValueError), timing.stage("ocr"):
        raise ValueError("tesseract failed")
    assert timing.totals()["ocr"]["calls"] == 1


def test_the_environment_variable_writes_the_totals_at_exit(tmp_path: Path) -> None:
    code = "import os\nfrom pipeline import timing\nwith timing.stage('ocr'):\n    pass\nprint(os.getpid())"
    pid = _python(code, {**_env_without_timing(), timing.ENV: str(tmp_path)}).stdout.strip()
    written = json.loads((tmp_path / f"stages-{pid}.json").read_text())
    assert written["pid"] == int(pid)
    assert written["stages"]["ocr"]["calls"] == 1


def test_another_process_totals_are_added(timed: None) -> None:
    """A page reader's totals, sent back with its page, add to this process's stage by stage."""
    with timing.stage("ocr"):
        pass
    before = timing.totals()["ocr"]["seconds"]
    timing.add({"ocr": {"seconds": 1.5, "calls": 2}, "rasterise": {"seconds": 0.25, "calls": 1}})
    totals = timing.totals()
    assert totals["ocr"] == {"seconds": round(before + 1.5, 6), "calls": 3}
    assert totals["rasterise"] == {"seconds": 0.25, "calls": 1}
