"""The watch service's reader pool, page by page: one file's pages read in every worker, handed back as one Read.

Real worker processes; the reader is a stand-in (no tesseract): a "scan" is a text file with one
line per page, which says what is on the page or what goes wrong reading it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.document import Page
from pipeline.errors import BadInput, ReasonCode, ToolMissing, Unreadable
from pipeline.ingest import SourceFile
from pipeline.reader import PageResult
from pipeline.service import reading as reading_module
from pipeline.service.journal import Journal, journal_path
from pipeline.service.pool import DEPTH, ReaderPool
from pipeline.service.reading import Broken, Crashed, Failed, PageReader, PipelineReader, Read, Result
from pipeline.service.status import build_status, render_status
from pipeline.settings import Settings, load_settings
from tests.unit.service_fakes import fake_reader, write_png


class LinePages:
    """Reads a scan whose lines are its pages: "DN-1" (a page with that number), "BLANK", "FAIL",
    "CRASH" (the process dies), "SETUP" (a missing tool), "BUG" (a reader bug); "SLOW:s:what"
    first takes s seconds. A page's text says which process read it."""

    def __call__(self, path: Path) -> Read:
        raise AssertionError("the pool reads a page reader's files page by page")

    def open(self, path: Path) -> SourceFile:
        data = path.read_bytes()
        if not data:
            raise BadInput(f"{path.name} is empty (0 bytes)", reason=ReasonCode.ZERO_BYTES, stage="ingest")
        count = len(data.decode().splitlines())
        return SourceFile(path=path, kind="tiff", sha256=hashlib.sha256(data).hexdigest(), page_count=count, dpi=300)

    def page(self, source: SourceFile, number: int) -> PageResult:
        what = source.path.read_text().splitlines()[number - 1]
        if what.startswith("SLOW:"):
            _, seconds, what = what.split(":", 2)
            time.sleep(float(seconds))
        if what.startswith("AFTERCRASH:"):  # wait until the process a CRASH page killed is gone
            what = what.removeprefix("AFTERCRASH:")
            wait_until_crashed(source.path.with_suffix(".crashed"))
        if what == "CRASH":
            source.path.with_suffix(".crashed").write_text(str(os.getpid()))
            os._exit(3)
        if what == "FAIL":
            raise Unreadable(f"{source.path.name}: page {number} could not be rasterised", reason=ReasonCode.RASTERISE_FAILED)
        if what == "SETUP":
            raise ToolMissing("tesseract is not installed")
        if what == "BUG":
            raise ValueError("a reader bug")
        if what == "BLANK":
            return PageResult(Page(number, blank=True))
        page = Page(number, text=f"read by {os.getpid()}")
        return PageResult(page, kind="other", delivery_number=what, dn_source="barcode")


def wait_until_crashed(marker: Path) -> None:
    """Until the process that wrote ``marker`` died and the pool buried it (reaped, its pid is gone)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(int(marker.read_text()), 0)
        except (FileNotFoundError, ValueError):
            pass  # not written yet
        except ProcessLookupError:
            return
        time.sleep(0.02)
    raise TimeoutError(f"no crash noted in {marker}")


def line_pages(settings: Settings) -> LinePages:
    return LinePages()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "inbox").mkdir()
    return replace(load_settings(env={}, cwd=tmp_path), workers=2)


@pytest.fixture
def pools() -> Any:
    made: list[ReaderPool] = []

    def make(settings: Settings, size: int = 2, factory: Any = line_pages) -> ReaderPool:
        made.append(ReaderPool(settings, size, factory=factory))
        return made[-1]

    yield make
    for pool in made:
        pool.close(kill=True)


def scan(settings: Settings, name: str, pages: list[str]) -> Path:
    path = settings.inbox / name
    path.write_text("\n".join(pages) + "\n")
    return path


def held(pool: ReaderPool) -> list[int]:
    """Jobs each worker holds now (a look inside: what bounds how many pages are rasterised at once)."""
    return [len(w.jobs) for w in pool._workers]


def run(pool: ReaderPool, files: list[tuple[int, Path]], timeout: float = 60.0, linger: float = 1.0) -> list[tuple[int | None, Result]]:
    """Give the pool the files as it has room (as the service's loop does) until each has come back,
    then listen ``linger`` seconds more for anything else. Every step checks what a worker holds."""
    todo, out = list(files), []
    deadline = time.monotonic() + timeout
    ended = None
    while time.monotonic() < deadline:
        while todo and pool.free() > 0:
            pool.submit(*todo.pop(0))
        out += pool.wait(0.1)
        assert all(n <= DEPTH for n in held(pool)) and len(held(pool)) <= pool.size
        if not todo and pool.busy() == 0:
            ended = ended or time.monotonic()
            if time.monotonic() - ended >= linger:
                return out
    raise AssertionError(f"timed out; so far {out}")


def pids(read: Result) -> set[str]:
    assert isinstance(read, Read), read
    return {p.text.removeprefix("read by ") for d in read.docs for p in d.pages}


def test_the_real_reader_reads_pages_and_a_stand_in_of_whole_files_does_not() -> None:
    assert issubclass(PipelineReader, PageReader)
    assert isinstance(LinePages(), PageReader)
    assert not isinstance(fake_reader(load_settings(env={})), PageReader)


def test_a_files_pages_are_read_in_every_worker_and_come_back_as_one_read_in_page_order(settings: Settings, pools: Any) -> None:
    """GIVEN a 9-page scan and two workers
    THEN it comes back once, as one Read: its hash, and a document per page in page order; both
    workers read pages of it, and neither ever held more than two jobs."""
    path = scan(settings, "batch.tif", [f"SLOW:0.2:DN-{n}" for n in range(1, 10)])
    pool = pools(settings)
    ((task, read),) = run(pool, [(7, path)])
    assert task == 7 and isinstance(read, Read)
    assert read.kind == "tiff" and read.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [(d.delivery_number, d.page_numbers) for d in read.docs] == [(f"DN-{n}", [n]) for n in range(1, 10)]
    assert all(d.sha256 == read.sha256 and d.source == path for d in read.docs)
    assert len(pids(read)) == 2


def test_free_lets_in_another_file_only_when_the_workers_would_run_out_of_pages(settings: Settings, pools: Any) -> None:
    """GIVEN two workers reading a 12-page scan
    THEN no other file may be given while two or more of its pages wait to be given out, one may
    once fewer do (before it is all read), and it is read while the first one's last pages are."""
    big = scan(settings, "big.tif", [f"SLOW:0.3:DN-{n}" for n in range(1, 13)])
    small = scan(settings, "small.tif", ["DN-S"])
    pool = pools(settings)
    pool.submit(1, big)
    assert pool.busy() == 1 and pool.free() == 1  # not opened yet: it counts as one job
    seen: list[tuple[int, int]] = []  # (pages of big not given out yet, free())
    results: list[tuple[int | None, Result]] = []
    deadline = time.monotonic() + 60
    while pool.free() == 0 or not seen:
        results += pool.wait(0.05)
        assert not results and time.monotonic() < deadline
        reading = next(iter(pool._files.files.values()))
        if reading.pages is not None:
            seen.append((reading.pages.waiting, pool.free()))
        assert sum(held(pool)) <= DEPTH * pool.size
    assert all(free == max(0, 2 - waiting) for waiting, free in seen)
    assert seen[0] == (8, 0)  # opened: two pages given to each worker
    assert seen[-1][0] < 2 and seen[-1][1] > 0  # fewer than two pages left to give out: room for a file
    pool.submit(2, small)
    assert pool.free() == seen[-1][1] - 1
    results += run(pool, [])
    assert sorted(task for task, _ in results) == [1, 2]
    assert all(isinstance(r, Read) for _, r in results)


def test_a_reader_of_whole_files_gets_one_file_per_worker(settings: Settings, pools: Any) -> None:
    """The stand-in readers of the service's other tests read whole files: one file a worker, as before."""
    a = write_png(settings.inbox / "a.png", "SLOW:1:DN-A", seed=1)
    b = write_png(settings.inbox / "b.png", "DN-B", seed=2)
    pool = pools(settings, factory=fake_reader)
    pool.submit(1, a)
    assert pool.free() == 1
    pool.submit(2, b)
    assert pool.free() == 0 and pool.busy() == 2
    with pytest.raises(RuntimeError):
        pool.submit(3, b)
    results = dict(run(pool, []))
    assert [d.delivery_number for d in results[1].docs] == ["DN-A"]  # type: ignore[union-attr]
    assert [d.delivery_number for d in results[2].docs] == ["DN-B"]  # type: ignore[union-attr]
    assert pool.progress() == {}


def test_a_bad_page_fails_its_file_with_the_first_bad_pages_reason(settings: Settings, pools: Any) -> None:
    """GIVEN a scan whose page 2 fails slowly and page 3 at once, and a good scan after it
    THEN the first comes back Failed with page 2's reason (reading in order stops there), its
    later pages are not given out, and the good scan is read."""
    bad = scan(settings, "bad.tif", ["DN-1", "SLOW:1.5:FAIL", "FAIL"] + [f"SLOW:5:DN-{n}" for n in range(4, 20)])
    good = scan(settings, "good.tif", ["DN-G1", "DN-G2"])
    pool = pools(settings)
    results = dict(run(pool, [(1, bad), (2, good)]))
    assert isinstance(results[1], Failed)
    assert results[1].error.reason == ReasonCode.RASTERISE_FAILED
    assert results[1].error.message == "bad.tif: page 2 could not be rasterised"
    assert [d.delivery_number for d in results[2].docs] == ["DN-G1", "DN-G2"]  # type: ignore[union-attr]


def test_a_file_that_cannot_be_opened_or_is_all_blank_fails(settings: Settings, pools: Any) -> None:
    empty = settings.inbox / "empty.tif"
    empty.write_bytes(b"")
    blank = scan(settings, "blank.tif", ["BLANK", "BLANK"])
    results = dict(run(pools(settings), [(1, empty), (2, blank)]))
    assert isinstance(results[1], Failed) and results[1].error.reason == ReasonCode.ZERO_BYTES
    assert isinstance(results[2], Failed) and results[2].error.reason == ReasonCode.NOTHING_TO_READ


def test_a_worker_dying_on_a_page_crashes_its_file_once_and_its_other_pages_are_dropped(
    settings: Settings, pools: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """GIVEN a scan whose page 2 kills the process reading it while page 1 is read in the other
    (page 1 goes on only once the dead process is buried)
    THEN the file comes back Crashed once, naming the page; pages 1 and 3, read in the other
    process after that, are dropped; the next file is read whole by the workers left (one new)."""
    caplog.set_level(logging.DEBUG, logger="pipeline.service.reading")
    doomed = scan(settings, "doomed.tif", ["AFTERCRASH:DN-1", "CRASH", "DN-3", "DN-4", "DN-5"])
    pool = pools(settings)
    assert run(pool, [(1, doomed)]) == [(1, Crashed("the reading process died (exit code 3) on page 2"))]
    deadline = time.monotonic() + 60
    while sum(held(pool)):  # the pages still in the other process's hands
        assert pool.wait(0.1) == [] and time.monotonic() < deadline
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert sorted(r.args[0] for r in dropped) == [1, 3]  # type: ignore[index]
    after = scan(settings, "after.tif", ["DN-A1", "DN-A2", "DN-A3"])
    ((task, read),) = run(pool, [(2, after)])
    assert task == 2 and [d.delivery_number for d in read.docs] == ["DN-A1", "DN-A2", "DN-A3"]  # type: ignore[union-attr]


def test_a_page_waiting_behind_one_that_kills_its_worker_is_read_by_another(settings: Settings, pools: Any) -> None:
    """GIVEN one worker, reading the one page of a scan that kills it, with the next file's job waiting behind
    THEN the first file Crashed, and the second is read in full by the worker started in its place."""
    pool = pools(settings, size=1)
    doomed = scan(settings, "doomed.tif", ["SLOW:1:CRASH"])
    after = scan(settings, "after.tif", ["DN-A1"])
    pool.submit(1, doomed)
    deadline = time.monotonic() + 30
    while pool.free() == 0:  # once its page is given out, there is room for the next file's
        assert not pool.wait(0.05) and time.monotonic() < deadline
    pool.submit(2, after)
    assert held(pool) == [2]
    results = run(pool, [])
    assert [(task, type(r)) for task, r in results] == [(1, Crashed), (2, Read)]


def test_a_missing_tool_on_a_page_stops_the_service_and_a_reader_bug_crashes_the_file(settings: Settings, pools: Any) -> None:
    results = dict(run(pools(settings), [(1, scan(settings, "a.tif", ["DN-1", "SETUP"])), (2, scan(settings, "b.tif", ["BUG"]))]))
    assert isinstance(results[1], Broken) and "tesseract" in results[1].error.message
    assert results[2] == Crashed("the reader failed on page 1: ValueError: a reader bug")


def test_a_big_files_progress_is_logged_and_counted(
    settings: Settings, pools: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN a 30-page scan (over PROGRESS_PAGES), with the quiet spell between two lines shortened
    THEN its reading is logged when it starts, at most each further tenth of its pages, and when
    it is all read (with the processes that read it); progress() counts its pages meanwhile."""
    monkeypatch.setattr(reading_module, "PROGRESS_QUIET", 0.0)
    caplog.set_level(logging.INFO, logger="pipeline.service.reading")
    path = scan(settings, "batch.tif", [f"SLOW:0.1:DN-{n}" for n in range(1, 31)])
    pool = pools(settings)
    pool.submit(9, path)
    counted: list[tuple[int, int]] = []
    deadline = time.monotonic() + 60
    while not (results := pool.wait(0.05)):
        assert time.monotonic() < deadline
        counted += pool.progress().values()
    assert [t for t, _ in results] == [9]
    assert counted and all(total == 30 for _, total in counted) and counted == sorted(counted)
    lines = [r for r in caplog.records if r.name == "pipeline.service.reading"]
    assert lines[0].getMessage() == "reading batch.tif: 30 pages, in up to 2 processes"
    steps = [r.signoff["pages_read"] for r in lines[1:-1]]  # type: ignore[attr-defined]
    assert steps and all(b - a >= 3 for a, b in zip([0, *steps], steps)) and steps[-1] <= 30
    assert all(r.getMessage() == f"batch.tif: {n} of 30 pages read" for r, n in zip(lines[1:-1], steps))
    done = lines[-1]
    assert done.getMessage().startswith("batch.tif: all 30 pages read in ") and done.getMessage().endswith("by 2 process(es)")
    assert sum(done.signoff["readers"].values()) == 30 and len(done.signoff["readers"]) == 2  # type: ignore[attr-defined]


def test_closing_kills_the_workers_reading_a_file_at_once(settings: Settings, pools: Any) -> None:
    pool = pools(settings)
    pool.submit(1, scan(settings, "long.tif", [f"SLOW:30:DN-{n}" for n in range(1, 5)]))
    deadline = time.monotonic() + 30
    while sum(held(pool)) < 4:
        assert not pool.wait(0.05) and time.monotonic() < deadline
    workers = [w.process for w in pool._workers]
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 5 and not any(p.is_alive() for p in workers)
    assert pool.busy() == 0 and pool.wait(0.1) == []


def test_status_shows_the_pages_read_of_a_file_being_read(settings: Settings) -> None:
    """The service's heartbeat carries the pool's progress; `status` shows it while the run lives, and only then."""
    journal = Journal.open(journal_path(settings.archive))
    journal.begin_run("watch")
    batch = journal.take(Path("depot/batch.pdf"), "1" * 64, 10, 1)
    other = journal.take(Path("one.png"), "2" * 64, 10, 1)
    journal.heartbeat({batch.id: (200, 1000), other.id: (0, 1)})
    st = build_status(settings)
    assert st["service"]["running"] is True
    assert st["reading"] == [
        {"name": "depot/batch.pdf", "pages_read": 200, "pages_total": 1000},
        {"name": "one.png", "pages_read": 0, "pages_total": 1},
    ]
    assert "reading      depot/batch.pdf (200 of 1000 pages), one.png (0 of 1 pages)" in render_status(st)
    journal.release(other.id)
    journal.heartbeat({batch.id: (300, 1000)})
    assert build_status(settings)["reading"] == [{"name": "depot/batch.pdf", "pages_read": 300, "pages_total": 1000}]
    journal.heartbeat()  # no progress given: what was said stands
    assert len(build_status(settings)["reading"]) == 1
    journal.end_run()
    journal.close()
    st = build_status(settings)
    assert st["reading"] == [] and not any(line.startswith("reading ") for line in render_status(st).splitlines())


def test_status_shows_the_local_pools_workers_as_the_heartbeat_recorded_them(settings: Settings, pools: Any) -> None:
    """The local executor's queue and workers: what the pool says at each heartbeat, shown while the run lives."""
    pool = pools(settings)
    pool.submit(1, scan(settings, "long.tif", ["SLOW:30:DN-1", "SLOW:30:DN-2"]))
    deadline = time.monotonic() + 30
    while sum(held(pool)) < 2:
        assert not pool.wait(0.05) and time.monotonic() < deadline
    state = pool.state()
    assert state["executor"] == "local" and state["queue"] == {"depth": 0}
    assert sorted(w["pid"] for w in state["workers"]) == sorted(w.process.pid for w in pool._workers)
    assert all(w["busy"] and w["name"] == f"reader-{w['pid']}" for w in state["workers"])
    journal = Journal.open(journal_path(settings.archive))
    journal.begin_run("watch")
    journal.heartbeat({}, pool=state)
    st = build_status(settings)
    assert (st["executor"], st["queue"], st["broker"]) == ("local", {"depth": 0}, None)
    assert [w["pid"] for w in st["workers"]] == [w["pid"] for w in state["workers"]]
    text = render_status(st)
    assert "executor     local" in text and "queue        0 file(s) given to the readers, not begun" in text
    assert f"workers      2: reader-{state['workers'][0]['pid']}" in text
    journal.end_run()
    journal.close()
    assert build_status(settings)["workers"] == []
