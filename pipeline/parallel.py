"""Reading pages in worker processes, one page a task, so even a single 1,000-page batch PDF uses every core."""

from __future__ import annotations

import heapq
import logging
import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.synchronize import Event as EventType
from pathlib import Path

from pipeline import timing
from pipeline.errors import DocumentError, ReaderCrashed
from pipeline.ingest import SourceFile
from pipeline.ocr import OcrEngine, TesseractEngine
from pipeline.reader import PageResult, read_page
from pipeline.settings import Settings

__all__ = ["FilePages", "FileRead", "read_pages"]

log = logging.getLogger(__name__)

# A file as opened (or why it cannot be), and what its pages read: in page order, none if it failed.
FileRead = tuple[Path, SourceFile | DocumentError, list[PageResult]]

# A reading process's own, set by _start_reader: its OCR engine, and the run's "stop reading" flag.
_engine: OcrEngine | None = None
_stop: EventType | None = None


class _Stopped(Exception):
    """The run stopped before this page was read."""


def _start_reader(languages: tuple[str, ...], log_level: int, stop: EventType) -> None:
    """Set up one reading process: its own OCR engine, one tesseract thread, deaf to Ctrl-C."""
    global _engine, _stop
    os.environ["OMP_THREAD_LIMIT"] = "1"  # the reading processes already use every core
    # Ctrl-C stops the run in the main process, which then skips the pages queued here. The
    # tesseract and pdftoppm runs under us do get it (same process group), so the pages in hand
    # end sooner; what they raise is never looked at.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from pipeline.service.logs import configure_logging
    from pipeline.service.reading import die_with_parent

    die_with_parent()
    configure_logging(log_level)
    _engine = TesseractEngine(languages)
    _stop = stop


def _read_page(source: SourceFile, number: int, date_order: str, now: datetime) -> tuple[PageResult, timing.Totals]:
    """Rasterise and read one page in a reading process; its stage seconds go back with it.

    The totals start from nothing for each page, so the main process adds each second once and
    this process has none left to write at exit (a page that raises takes its seconds with it).
    """
    assert _engine is not None and _stop is not None, "_start_reader runs first in each reading process"
    if _stop.is_set():
        raise _Stopped
    try:
        return read_page(source.page(number), _engine, date_order, now), timing.totals()
    finally:
        timing.reset()


@dataclass(slots=True)
class FilePages:
    """One file whose pages are read in other processes: its pages' readings as they come back, or
    the first error in page order. Pages are given out in page order (one put back goes first).

    Shared with the watch service's reader pool (pipeline.service.pool).
    """

    path: Path
    source: SourceFile | None
    error: DocumentError | None = None
    error_page: int = 0
    pages: dict[int, PageResult] = field(default_factory=dict)
    fed: int = 0  # pages given out: 1 to fed
    out: int = 0  # of those, not back yet
    again: list[int] = field(default_factory=list)  # given out, but put back: to give out again (a heap)

    @classmethod
    def opened(cls, path: Path, src: SourceFile | DocumentError) -> FilePages:
        return cls(path, src, None) if isinstance(src, SourceFile) else cls(path, None, src)

    @property
    def done(self) -> bool:
        """Every page given out is back, and no more will be: all were given, or the file failed."""
        return self.out == 0 and (self.error is not None or self.source is None or self.waiting == 0)

    @property
    def waiting(self) -> int:
        """Pages not given out yet (none once the file failed)."""
        if self.error is not None or self.source is None:
            return 0
        return self.source.page_count - self.fed + len(self.again)

    def next_page(self) -> int | None:
        """The number of the next page to give out (counted as out), or None: all were given, or the file failed."""
        if not self.waiting:
            return None
        self.out += 1
        if self.again:
            return heapq.heappop(self.again)
        self.fed += 1
        return self.fed

    def put_back(self, number: int) -> None:
        """A page given out will not come back (its process died before it began it): give it out again."""
        self.out -= 1
        heapq.heappush(self.again, number)

    def came_back(self, number: int, result: PageResult | DocumentError) -> None:
        """A page given out is back: its reading, or why it cannot be read."""
        self.out -= 1
        if isinstance(result, DocumentError):
            self.failed(number, result)
        else:
            self.pages[number] = result

    def failed(self, number: int, exc: DocumentError) -> None:
        # Reading in order would have stopped at the first failing page: its error is the file's.
        if self.error is None or number < self.error_page:
            self.error, self.error_page = exc, number

    def read(self) -> FileRead:
        if self.error is not None:
            return self.path, self.error, []
        assert self.source is not None
        return self.path, self.source, [self.pages[n] for n in range(1, self.source.page_count + 1)]


_File = FilePages  # its name in this module's tests


class _PageStream:
    """Pages of all the files fed to the pool in one flat stream; files handed back whole, in order."""

    def __init__(
        self,
        pool: ProcessPoolExecutor,
        files: list[FilePages],
        date_order: str,
        now: Callable[[], datetime],
        on_pages: Callable[[int], None],
        window: int,
    ) -> None:
        self._pool = pool
        self._files = files
        self._date_order = date_order
        self._now = now
        self._on_pages = on_pages
        self._window = window
        # Lazy: a file that failed gives out no more pages (checked as each page comes up).
        self._todo = ((f, n) for f in files for n in iter(f.next_page, None))
        self._in_flight: dict[Future[tuple[PageResult, timing.Totals]], tuple[FilePages, int]] = {}

    def __iter__(self) -> Iterator[FileRead]:
        head = 0
        while True:
            self._feed()
            while head < len(self._files) and self._files[head].done:
                yield self._hand_back(self._files[head])
                head += 1
            if not self._in_flight:
                return  # nothing left to give out, so every file was handed back
            done, _ = wait(self._in_flight, return_when=FIRST_COMPLETED)
            for future in done:
                self._collect(future)

    def in_flight(self) -> list[Path]:
        """The files whose pages are being read now."""
        return list(dict.fromkeys(f.path for f, _ in self._in_flight.values()))

    def _feed(self) -> None:
        while len(self._in_flight) < self._window:
            task = next(self._todo, None)
            if task is None:
                return
            f, number = task
            assert f.source is not None
            future = self._pool.submit(_read_page, f.source, number, self._date_order, self._now())
            self._in_flight[future] = (f, number)

    def _collect(self, future: Future[tuple[PageResult, timing.Totals]]) -> None:
        f, number = self._in_flight[future]
        try:
            result, stages = future.result()  # a SetupError, or anything unexpected, stops the run
        except DocumentError as exc:
            f.came_back(number, exc)
        else:
            timing.add(stages)
            f.came_back(number, result)
        del self._in_flight[future]
        self._on_pages(1)

    def _hand_back(self, f: FilePages) -> FileRead:
        if f.source is not None:
            self._on_pages(f.source.page_count - f.fed)  # a failed file's pages never given out
        return f.read()


def read_pages(
    files: Sequence[tuple[Path, SourceFile | DocumentError]],
    settings: Settings,
    workers: int,
    now: Callable[[], datetime],
    on_pages: Callable[[int], None],
) -> Generator[FileRead, None, None]:
    """Read every page of the files in ``workers`` processes; yield each file's readings, files in order.

    About two pages a process are given out at a time, across file boundaries: the processes stay
    busy while the caller files what was handed back, and however many pages wait, only those few
    are rasterised at once. A file is handed back once all its pages are read and the files before
    it were handed back (a rescan is filed after the scan it replaces, as reading in order would).
    A page raising DocumentError fails its file (the first failing page, in page order, gives the
    reason), and its pages not yet given out are not read.

    Args:
        files: each path, opened (or why it cannot be: handed back as it is, in its turn).
        settings: the languages and date order to read with.
        workers: how many reading processes.
        now: the time a page's dates are judged against (naive), asked as each page is given out.
        on_pages: called with a number of pages finished: read, or left unread in a failed file.

    Raises:
        SetupError: a tool is missing (from a reading process), or ReaderCrashed: a reading
            process died. The files not handed back stay where they are.
    """
    spawn = mp.get_context("spawn")  # never fork a process that has threads
    stop = spawn.Event()
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=spawn,
        initializer=_start_reader,
        initargs=(settings.languages, logging.getLogger("pipeline").getEffectiveLevel(), stop),
    )
    opened = [FilePages.opened(path, src) for path, src in files]
    stream = _PageStream(pool, opened, settings.date_order, now, on_pages, window=2 * workers)
    log.debug("reading the pages of %d file(s) in %d processes", len(opened), workers)
    try:
        yield from stream
    except BrokenProcessPool:
        names = ", ".join(p.name for p in stream.in_flight())
        raise ReaderCrashed(
            f"a reading process died (killed, or out of memory?) while reading one of: {names}. Nothing is "
            "lost: the files not filed yet are where they were; run again (--workers 1 reads in one process)"
        ) from None
    except BaseException:
        # Interrupted, or the caller stopped: the pages queued in the processes are skipped (the
        # pool cannot cancel those), and only the pages in hand are finished: they clean up after
        # themselves, which a killed process would not (tesseract left running, its image in /tmp).
        stop.set()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
