"""scripts/bench_pages.py: its options, its page set and its report, on stand-in numbers (nothing is timed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_pages.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_pages_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_defaults_are_a_quick_run(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.pages, args.seed, args.skip, args.keep, args.json) == (24, 1, [], None, False)
    assert args.jobs >= 1


def test_skip_takes_names_repeated_or_comma_separated(bench: ModuleType) -> None:
    args = bench.parse_args(["--skip", "ocrmypdf", "--skip", "tesseract,ocrmypdf", "--pages", "12", "--json"])
    assert args.skip == ["ocrmypdf", "tesseract"]
    assert args.pages == 12 and args.json


@pytest.mark.parametrize("argv", [["--skip", "paddle"], ["--pages", "0"], ["--jobs", "0"]])
def test_bad_options_are_usage_errors(bench: ModuleType, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_keep_refuses_a_folder_with_something_in_it(bench: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(SystemExit):
        bench.parse_args(["--keep", str(tmp_path)])
    assert bench.parse_args(["--keep", str(tmp_path / "new")]).keep == tmp_path / "new"


def test_help_works(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        bench.parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("--pages", "--seed", "--jobs", "--skip", "--keep", "--json"):
        assert option in out


def test_the_page_set_is_fixed_by_its_seed_and_mixed(bench: ModuleType) -> None:
    plans = bench.plan_set(24, 1)
    assert plans == bench.plan_set(24, 1)
    assert plans != bench.plan_set(24, 2)
    sheets = [s for p in plans for s in p.sheets]
    assert len(sheets) == 24 and all(s.pages == 1 for s in sheets)
    assert len({s.delivery_number for s in sheets}) == 24
    described = bench.describe_set(plans, 1)
    assert described["languages"] == {"en": 8, "sv": 8, "zh": 8}
    assert set(described["dpi"]) == {"200", "300"}
    assert 0 < described["batches"] < described["files"]
    assert all(p.name.endswith(".pdf") for p in plans)
    assert all(2 <= len(p.entries) <= 4 for p in plans if p.name.startswith("batch"))


def _stand_in() -> dict[str, Any]:
    def run(label: str, seconds: float, pages_per_minute: float, memory: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"label": label, "seconds": seconds, "cpu_seconds": seconds * 1.5, "pages_per_minute": pages_per_minute,
                "memory": memory, "tree_peak_mb": 900, "load": {"start": 3.0, "mean": 4.25, "max": 5.0}, **extra}

    runs = {
        "tesseract": run("OCR-only limit: tesseract, 2 processes", 40.0, 18.0,
                         {"tesseract": {"peak_mb": 310, "processes": 12}}),
        "signoff": run("signoff process, 1 process", 120.0, 6.0,
                       {"signoff": {"peak_mb": 480, "processes": 1}, "sh": {"peak_mb": 1, "processes": 3}},
                       rows=12, exit_code=0, stages={"ocr": 60.0, "barcodes": 12.0, "indexing": 3.0, "mystery": 1.0}),
    }
    return {
        "machine": {"cores": 2, "cpu": "Stand-in CPU", "ram_gib": 24.0},
        "load": {"before": 7.5, "start": 7.5, "mean": 8.0, "max": 9.5},
        "set": {"seed": 1, "pages": 12, "files": 6, "batches": 3, "languages": {"en": 4, "sv": 4, "zh": 4},
                "dpi": {"200": 5, "300": 7}},
        "jobs": 2,
        "runs": runs,
        "ratios": {"tesseract": 0.33},
        "seconds_total": 200.0,
    }


def test_ratios_are_signoff_over_each_other_run(bench: ModuleType) -> None:
    runs = {"tesseract": {"pages_per_minute": 20.0}, "ocrmypdf": {"pages_per_minute": 4.0},
            "signoff": {"pages_per_minute": 6.0}}
    assert bench.ratios(runs) == {"tesseract": 0.3, "ocrmypdf": 1.5}
    assert bench.ratios({"tesseract": {"pages_per_minute": 20.0}}) == {}


def test_the_report_tables(bench: ModuleType) -> None:
    text = bench.format_report(_stand_in())
    lines = text.splitlines()
    assert lines[0].startswith("machine: 2 cores (Stand-in CPU), 24.0 GiB RAM; load average (1 min) 7.5 before")
    assert "| OCR-only limit: tesseract, 2 processes | 40.0 | 60.0 | 5.00 | 18.0 | 0.33 | tesseract 310 (x12) | 4.25 |" in lines
    assert "| ocrmypdf | skipped | | | | | | |" in lines
    assert "| signoff process, 1 process | 120.0 | 180.0 | 15.00 | 6.0 | 1 | signoff 480 | 4.25 |" in lines
    # Shares of the wall time of both reading processes (2 x 120 s).
    stages = lines[lines.index("| signoff's stages (seconds summed over its 2 reading processes) | s | s/page | share |") + 2 :]
    assert stages[0] == "| barcodes (zxing-cpp, then zbar) | 12.0 | 1.00 | 5% |"  # the product's order
    assert stages[1] == "| OCR, first reading (the first configured language) | 60.0 | 5.00 | 25% |"
    assert stages[3] == "| mystery | 1.0 | 0.08 | 0% |"  # a stage the script does not know yet still shows
    assert stages[4].startswith("| not in a stage") and "| 164.0 | 13.67 | 68% |" in stages[4]
    assert "not its capacity" in text  # load 7.5 on 2 cores before it began
    assert text.endswith("whole run (generating the set included): 200 s")


def test_the_tree_watch_sees_a_child_process_memory(bench: ModuleType) -> None:
    code = "import time; block = bytearray(60_000_000); block[::4096] = b'x' * len(block[::4096]); time.sleep(0.8)"
    with bench.TreeWatch(every=0.1) as watch:
        child = bench.run_child([sys.executable, "-c", code])
    assert child.code == 0 and child.cpu > 0
    (name, row), *_ = watch.memory().items()  # the largest first
    assert name.startswith("python") and row["peak_mb"] >= 55 and row["processes"] == 1
    assert watch.tree_kb >= 55 * 1024
    assert watch.load()["max"] >= 0
    # Memory over time: the python child's RSS at each sample, its quarters, and the machine's swap.
    assert any(sizes.get(name, 0) >= 55 * 1024 for _, sizes in watch.timeline)
    assert watch.seconds >= 0.8 and watch.memory_over_time()[name]["peak_mb"] >= 55
    swap = watch.swap()
    assert swap["min_available_mb"] <= swap["available_at_start_mb"] and swap["configured"] == (swap["total_mb"] > 0)


def test_one_file_is_an_option_and_off_by_default(bench: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.parse_args([]).one_file is False
    assert bench.parse_args(["--one-file", "--pages", "1000"]).one_file is True
    with pytest.raises(SystemExit):
        bench.parse_args(["--help"])
    assert "--one-file" in capsys.readouterr().out


def test_quarter_peaks_of_made_up_samples(bench: ModuleType) -> None:
    mb = 1024
    timeline = [  # 100 s: the worker grows, signoff stays, tesseract runs only at the start
        (0.0, {"signoff": 50 * mb}),
        (10.0, {"signoff": 100 * mb, "python3": 200 * mb, "tesseract": 150 * mb}),
        (25.0, {"signoff": 104 * mb, "python3": 210 * mb}),  # still in the first quarter (t <= 25)
        (50.0, {"signoff": 300 * mb, "python3": 260 * mb}),  # the middle counts in neither quarter
        (75.0, {"signoff": 108 * mb, "python3": 250 * mb}),
        (90.0, {"signoff": 105 * mb, "python3": 240 * mb, "sh": 1 * mb}),
    ]
    out = bench.quarter_peaks(timeline, 100.0, least_mb=5)
    assert list(out) == ["signoff", "python3", "tesseract"]  # the largest first; sh is under 5 MB
    assert out["signoff"] == {"first_quarter_mb": 104, "last_quarter_mb": 108, "peak_mb": 300, "flat": True}
    assert out["python3"] == {"first_quarter_mb": 210, "last_quarter_mb": 250, "peak_mb": 260, "flat": False}
    assert out["tesseract"] == {"first_quarter_mb": 150, "last_quarter_mb": None, "peak_mb": 150, "flat": None}
    # Without the wall time, the last sample's time is the run's length (90 s: the last quarter from 67.5 s).
    assert bench.quarter_peaks(timeline)["python3"]["last_quarter_mb"] == 250
    assert bench.quarter_peaks([]) == {}
    assert "sh" in bench.quarter_peaks(timeline, 100.0)


def test_the_report_notes_memory_over_time_and_swap(bench: ModuleType) -> None:
    result = _stand_in()
    result["set"]["one_file"] = "batch-all.pdf"
    ours = result["runs"]["signoff"]
    ours["memory_over_time"] = {
        "signoff": {"first_quarter_mb": 200, "last_quarter_mb": 210, "peak_mb": 215, "flat": True},
        "python3": {"first_quarter_mb": 300, "last_quarter_mb": 390, "peak_mb": 390, "flat": False},
        "tesseract": {"first_quarter_mb": None, "last_quarter_mb": 150, "peak_mb": 150, "flat": None},
    }
    ours["swap"] = {"configured": False, "total_mb": 0, "used_at_start_mb": 0, "max_used_mb": 0,
                    "available_at_start_mb": 23000, "min_available_mb": 22100}
    lines = bench.format_report(result).splitlines()
    assert lines[1].startswith("set: 12 pages (seed 1) in one batch PDF (batch-all.pdf, written as 6 PDFs and joined); ")
    assert ("memory over signoff's run (largest process of each name, peak RSS in the first -> last quarter of its "
            "120 s): signoff 200 -> 210 MB (flat), python3 300 -> 390 MB (grew 30%), tesseract - -> 150 MB") in lines
    assert ("swap during signoff's run: no swap configured; MemAvailable 23000 MB at the start, at least 22100 MB"
            in lines)
    ours["swap"] = {"configured": True, "total_mb": 2048, "used_at_start_mb": 10, "max_used_mb": 300,
                    "available_at_start_mb": 900, "min_available_mb": 40}
    assert ("swap during signoff's run: 2048 MB configured, 10 MB in use at the start, at most 300 MB (it swapped)"
            in bench.format_report(result).splitlines())


def test_the_report_without_memory_over_time_still_works(bench: ModuleType) -> None:
    text = bench.format_report(_stand_in())  # a result from before these figures: no notes for them
    assert "memory over" not in text and "swap" not in text
    assert "in 6 PDFs, 3 of them batches" in text


def test_joining_parts_makes_one_batch(bench: ModuleType, tmp_path: Path) -> None:
    plans = bench.plan_set(3, 1)
    bench.write_set(plans, tmp_path / "parts", 1)
    out = tmp_path / "set" / bench.ONE_FILE
    assert bench.join_pdfs([tmp_path / "parts" / p.name for p in plans], out) == 3
    assert bench.describe_set(plans, 1, one_file=True)["one_file"] == "batch-all.pdf"
    assert bench.describe_set(plans, 1)["one_file"] is None
