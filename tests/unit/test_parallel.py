"""Pages read in worker processes: files come back whole, in order, as reading in one process would make them."""

from __future__ import annotations

import dataclasses
import os
import random
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pikepdf
import pytest
from PIL import Image

from pipeline import timing
from pipeline.document import Page
from pipeline.errors import BadInput, DocumentError, ReaderCrashed, ReasonCode, ToolMissing, Unreadable
from pipeline.ingest import RawPage, SourceFile
from pipeline.parallel import _File, _PageStream, read_pages
from pipeline.reader import PageResult
from pipeline.run import Pipeline
from pipeline.samples import PlannedFile, SheetTruth, random_sheet, write_planned_file
from pipeline.settings import Settings, load_settings
from tests.conftest import needs_tesseract

NOW = datetime(2026, 11, 1, 12, 0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = dataclasses.replace(load_settings(env={}, cwd=tmp_path), languages=("eng",))
    s.inbox.mkdir(parents=True)
    s.archive.mkdir(parents=True)
    return s


# -- the page stream, with threads standing in for the reading processes ------------------------------
def source(name: str, pages: int) -> SourceFile:
    return SourceFile(path=Path(name), kind="pdf", sha256=name, page_count=pages, dpi=300)


class ThreadReaders:
    """Stands in for the process pool: a page is "read" in a thread, the later pages of a file first."""

    def __init__(self, fail: dict[tuple[str, int], DocumentError] | None = None) -> None:
        self.fail = fail or {}
        self.given: list[tuple[str, int]] = []
        self._threads = ThreadPoolExecutor(max_workers=8)

    def submit(self, fn: Any, src: SourceFile, number: int, date_order: str, now: datetime) -> Future[Any]:
        self.given.append((src.path.name, number))
        return self._threads.submit(self._read, src, number)

    def _read(self, src: SourceFile, number: int) -> tuple[PageResult, timing.Totals]:
        time.sleep(0.01 * (src.page_count - number))  # so pages come back out of order
        if (src.path.name, number) in self.fail:
            raise self.fail[(src.path.name, number)]
        return PageResult(Page(number), delivery_number=f"{src.path.stem}-{number}"), {"ocr": {"seconds": 0.5, "calls": 1}}


def stream(readers: ThreadReaders, files: list[tuple[str, SourceFile | DocumentError]], window: int) -> tuple[list[Any], list[int]]:
    """Run the page stream: each file handed back as (name, source or error, delivery numbers), and the page counts."""
    finished: list[int] = []
    opened = [_File.opened(Path(name), src) for name, src in files]
    out = _PageStream(readers, opened, "DMY", lambda: NOW, finished.append, window)  # type: ignore[arg-type]
    return [(p.name, src, [r.delivery_number for r in results]) for p, src, results in out], finished


def test_each_file_comes_back_whole_in_page_order_and_files_in_their_order() -> None:
    """GIVEN a 5-page batch, a 1-page file and a 3-page file, pages read four at a time, later pages first
    THEN each file comes back with its pages in page order, the files in the order given, and
    every page is counted once."""
    files = [("batch.pdf", source("batch.pdf", 5)), ("one.pdf", source("one.pdf", 1)), ("three.pdf", source("three.pdf", 3))]
    handed, finished = stream(ThreadReaders(), files, window=4)
    assert [(name, pages) for name, _, pages in handed] == [
        ("batch.pdf", [f"batch-{n}" for n in range(1, 6)]),
        ("one.pdf", ["one-1"]),
        ("three.pdf", ["three-1", "three-2", "three-3"]),
    ]
    assert sum(finished) == 9


def test_a_bad_page_fails_its_file_with_the_first_bad_pages_reason_and_the_others_come_through() -> None:
    """GIVEN a batch whose pages 2 and 4 cannot be read, and a file that cannot be opened, among good files
    THEN the batch comes back failed with page 2's reason (reading in order stops there), the file
    that did not open with its own error, the good files whole; and every page is counted."""
    bad2 = Unreadable("page 2 could not be rasterised", reason=ReasonCode.RASTERISE_FAILED)
    bad4 = BadInput("page 4 is damaged", reason=ReasonCode.CORRUPT_IMAGE)
    locked = BadInput("locked.pdf is an encrypted PDF", reason=ReasonCode.ENCRYPTED_PDF)
    readers = ThreadReaders({("batch.pdf", 2): bad2, ("batch.pdf", 4): bad4})
    files = [("first.pdf", source("first.pdf", 1)), ("batch.pdf", source("batch.pdf", 5)),
             ("locked.pdf", locked), ("last.pdf", source("last.pdf", 2))]
    handed, finished = stream(readers, files, window=8)
    assert [(name, src if isinstance(src, DocumentError) else "ok", pages) for name, src, pages in handed] == [
        ("first.pdf", "ok", ["first-1"]),
        ("batch.pdf", bad2, []),
        ("locked.pdf", locked, []),
        ("last.pdf", "ok", ["last-1", "last-2"]),
    ]
    assert sum(finished) == 1 + 5 + 2


def test_a_failed_files_remaining_pages_are_not_read() -> None:
    readers = ThreadReaders({("batch.pdf", 1): Unreadable("page 1 could not be rasterised")})
    handed, finished = stream(readers, [("batch.pdf", source("batch.pdf", 6)), ("next.pdf", source("next.pdf", 1))], window=1)
    assert readers.given == [("batch.pdf", 1), ("next.pdf", 1)]
    assert [name for name, _, _ in handed] == ["batch.pdf", "next.pdf"]
    assert sum(finished) == 7  # the five pages never read count as finished with their file


def test_a_setup_error_on_a_page_stops_the_run() -> None:
    readers = ThreadReaders({("b.pdf", 1): ToolMissing("tesseract is not installed")})
    with pytest.raises(ToolMissing):
        stream(readers, [("a.pdf", source("a.pdf", 2)), ("b.pdf", source("b.pdf", 1))], window=4)


def test_the_readers_stage_seconds_are_added_to_this_process(timed: None) -> None:
    """Each page's stage totals come back with it and are added here: 7 pages, 7 OCR calls of 0.5 s."""
    stream(ThreadReaders(), [("a.pdf", source("a.pdf", 4)), ("b.pdf", source("b.pdf", 3))], window=3)
    assert timing.totals() == {"ocr": {"seconds": 3.5, "calls": 7}}


# -- real reading processes -------------------------------------------------------------------------
class DyingSource(SourceFile):
    """A file whose every page kills the reading process that takes it (as the OOM killer would)."""

    def page(self, number: int) -> RawPage:
        os._exit(9)


def blank_png(path: Path) -> Path:
    Image.new("L", (850, 1100), 255).save(path, dpi=(100, 100))
    return path


def test_a_reading_process_that_dies_stops_the_run_naming_the_files_in_hand(tmp_path: Path, settings: Settings) -> None:
    """GIVEN a file whose page kills the process reading it
    THEN the run stops with ReaderCrashed, which names it."""
    dying = DyingSource(tmp_path / "boom.pdf", "pdf", "x", 1, 300)
    files = [(dying.path, dying)]
    with pytest.raises(ReaderCrashed, match="boom.pdf"):
        list(read_pages(files, settings, 2, lambda: NOW, lambda n: None))


@needs_tesseract
def test_a_reading_process_that_dies_loses_nothing(settings: Settings) -> None:
    """GIVEN `signoff process` on two files whose pages kill the processes reading them
    THEN it stops with ReaderCrashed; both files are still in the inbox and nothing is quarantined."""
    files = [blank_png(settings.inbox / "a.png"), blank_png(settings.inbox / "b.png")]
    pipe = Pipeline(dataclasses.replace(settings, workers=2))
    opened = pipe._open
    pipe._open = lambda path: DyingSource(**{f.name: getattr(opened(path), f.name) for f in dataclasses.fields(SourceFile)})  # type: ignore[method-assign]
    with pytest.raises(ReaderCrashed):
        pipe.process_many(files)
    assert all(f.exists() for f in files)
    assert not settings.quarantine.exists() or not any(settings.quarantine.rglob("*.reason.json"))


# -- real reading, in processes and in one, compared ------------------------------------------------
def sheet_files() -> list[PlannedFile]:
    """A three-sheet batch PDF and a single-sheet PDF (English, 200 dpi, upright, one page a sheet)."""
    rng = random.Random(5)
    sheets: list[SheetTruth] = []
    while len(sheets) < 4:
        sheet = random_sheet(rng, language="en")
        if sheet.rotation == 0 and sheet.delivery_number not in {s.delivery_number for s in sheets}:
            sheets.append(sheet)
    return [PlannedFile("batch.pdf", 200, tuple(sheets[:3])), PlannedFile("single.pdf", 200, (sheets[3],))]


def write_sheets(folder: Path, plans: list[PlannedFile]) -> dict[str, list[SheetTruth]]:
    for plan in plans:
        write_planned_file(folder / plan.name, plan, "scanner", random.Random(plan.name))
    return {plan.name: list(plan.sheets) for plan in plans}


@pytest.mark.slow
@needs_tesseract
def test_pages_read_in_two_processes_make_the_same_documents_as_read_in_one(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timed: None
) -> None:
    """GIVEN a three-sheet batch PDF and a single-sheet PDF
    WHEN process_many reads them (dry run) in two processes, then in this one
    THEN each file gives the same documents, page for page; the readers' stages reach this
    process's totals (the same stages, as often, as read here) and the readers write no timing file."""
    truth = write_sheets(settings.inbox, sheet_files())
    paths = [settings.inbox / name for name in truth]
    monkeypatch.setenv(timing.ENV, str(tmp_path / "stages"))  # the reading processes inherit it

    def run(workers: int) -> tuple[list[list[Any]], timing.Totals, list[tuple[int, int]]]:
        timing.reset()
        pipe = Pipeline(dataclasses.replace(settings, workers=workers), now=lambda: NOW.astimezone())
        counted: list[tuple[int, int]] = []
        outcomes = pipe.process_many(paths, dry_run=True, pages=lambda n, total: counted.append((n, total)))
        return [o.docs for o in outcomes], timing.totals(), counted

    parallel, parallel_stages, counted = run(2)
    serial, serial_stages, _ = run(1)
    assert [[d.delivery_number for d in docs] for docs in parallel] == [
        [s.delivery_number for s in sheets] for sheets in truth.values()
    ]
    assert parallel == serial
    assert {k: v["calls"] for k, v in parallel_stages.items()} == {k: v["calls"] for k, v in serial_stages.items()}
    assert parallel_stages["ocr"]["calls"] >= 4
    assert counted[0] == (0, 4) and sum(n for n, _ in counted) == 4
    assert not (tmp_path / "stages").exists() or not any((tmp_path / "stages").iterdir())


@pytest.mark.slow
@needs_tesseract
def test_bad_files_among_good_ones_are_quarantined_with_their_reason_and_the_others_filed(settings: Settings) -> None:
    """GIVEN a good single-sheet PDF between a TIFF whose second page is too small to hold a sheet
    and an encrypted PDF, all read in two processes
    THEN the good sheet is filed and indexed, each bad file is quarantined with its reason (the
    TIFF's found by the process reading its page 2), and the inbox is empty."""
    (good,) = write_sheets(settings.inbox, sheet_files()[1:])["single.pdf"]
    tiff = settings.inbox / "torn.tif"
    Image.new("L", (850, 1100), 255).save(tiff, save_all=True, append_images=[Image.new("L", (100, 140), 255)], dpi=(100, 100))
    locked = settings.inbox / "locked.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(locked, encryption=pikepdf.Encryption(owner="o", user="u"))
    pipe = Pipeline(dataclasses.replace(settings, workers=2))

    outcomes = pipe.process_many([tiff, settings.inbox / "single.pdf", locked])
    assert [o.error.reason if o.error else "filed" for o in outcomes] == [
        ReasonCode.TOO_SMALL, "filed", ReasonCode.ENCRYPTED_PDF
    ]
    assert [d.delivery_number for d in outcomes[1].docs] == [good.delivery_number]
    assert outcomes[1].filed[0].pdf.exists()
    for outcome in (outcomes[0], outcomes[2]):
        assert outcome.quarantined is not None and outcome.quarantined.exists()
        assert outcome.quarantined.with_name(outcome.quarantined.name + ".reason.json").exists()
    assert list(settings.inbox.iterdir()) == []
