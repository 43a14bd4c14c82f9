"""What every reader pool of the watch service shares: the results, the readers, each file's pages as they come back.

A pool reads files for the one writer: ``ReaderPool`` (pool.py) in processes on this machine,
``CeleryPool`` (celery_pool.py) on Celery workers on other machines. Either way a file is first
opened (checked, its pages counted, page 1 read), its other pages are read wherever there is a
free reader, and ``Readings`` here groups them into the file's documents
(pipeline.run.documents), as reading the file whole would.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Union, runtime_checkable

from pipeline.classify import load_known
from pipeline.document import ScanDoc
from pipeline.errors import DocumentError, SetupError
from pipeline.ingest import SourceFile
from pipeline.parallel import FilePages
from pipeline.reader import PageResult
from pipeline.run import Pipeline, documents
from pipeline.service.journal import printable
from pipeline.settings import Settings

__all__ = [
    "BookedPool",
    "Broken",
    "Crashed",
    "Failed",
    "FileReading",
    "PROGRESS_PAGES",
    "PageReader",
    "PipelineReader",
    "Pool",
    "Read",
    "ReadFn",
    "ReaderFactory",
    "Readings",
    "Result",
    "die_with_parent",
    "do_job",
    "make_pool",
    "one_line",
    "pipeline_reader",
]

log = logging.getLogger(__name__)

# A file of more pages than this has its reading logged: when it starts, then at each further tenth
# of its pages or each minute, whichever comes first (never two lines within 10 s), and when done.
PROGRESS_PAGES = 20
PROGRESS_STEP = 0.1
PROGRESS_EVERY = 60.0
PROGRESS_QUIET = 10.0


@dataclass(frozen=True, slots=True)
class Read:
    """What a file held: its type (for filing), its hash as read, and its documents."""

    kind: str
    sha256: str
    docs: list[ScanDoc]


@dataclass(frozen=True, slots=True)
class Failed:
    """The file is bad input (quarantine it, or wait if it is young and may still be written)."""

    error: DocumentError


@dataclass(frozen=True, slots=True)
class Crashed:
    """The reading process died, or the reader raised something it should not have."""

    message: str


@dataclass(frozen=True, slots=True)
class Broken:
    """Reading cannot work at all (a tool is missing): the service stops."""

    error: SetupError


Result = Union[Read, Failed, Crashed, Broken]
ReadFn = Callable[[Path], Read]
ReaderFactory = Callable[[Settings], ReadFn]


@runtime_checkable
class PageReader(Protocol):
    """A reader that can also take a file apart: the pool then reads its pages in all its workers.

    ``open`` runs in one worker, which reads page 1 straight on; each other ``page`` in whichever
    worker is free. The pool groups the pages into documents itself (pipeline.run.documents), as
    reading the whole file would. A reader without these methods (a plain ReadFn) has each file
    read whole, in one worker.
    """

    def __call__(self, path: Path) -> Read: ...

    def open(self, path: Path) -> SourceFile:
        """Check the file and count its pages (raises DocumentError); its hash is the one filed."""
        ...

    def page(self, source: SourceFile, number: int) -> PageResult:
        """Rasterise and read page ``number`` (1-based) of an opened file (raises DocumentError)."""
        ...


class PipelineReader:
    """The real reader: one Pipeline per worker process (its OCR engine and customer list built once)."""

    def __init__(self, settings: Settings) -> None:
        self.pipe = Pipeline(settings)

    def __call__(self, path: Path) -> Read:
        src, docs = self.pipe.read_file(path)
        return Read(src.kind, src.sha256, docs)

    def open(self, path: Path) -> SourceFile:
        return self.pipe.open(path)

    def page(self, source: SourceFile, number: int) -> PageResult:
        return self.pipe.read_one(source, number)


def pipeline_reader(settings: Settings) -> PipelineReader:
    """The real reader's factory: what the workers read with unless told otherwise."""
    return PipelineReader(settings)


class Pool(Protocol):
    """What the watch loop asks of a pool of readers (pool.ReaderPool, celery_pool.CeleryPool)."""

    what: str  # for the log: how it reads ("2 reader process(es)", "Celery workers via redis://…")

    def free(self) -> int:
        """How many more files may be given now."""
        ...

    def busy(self) -> int:
        """Files being read."""
        ...

    def submit(self, task: int, path: Path, sha256: str | None = None) -> None:
        """Give a file (its hash as the service read it, if known) to be read. Call only when free() > 0."""
        ...

    def wait(self, timeout: float) -> list[tuple[int | None, Result]]:
        """Files whose reading ended within about ``timeout`` seconds: (task, result)."""
        ...

    def progress(self) -> dict[int, tuple[int, int]]:
        """task -> (pages read, pages in all), for each file being read page by page."""
        ...

    def state(self) -> dict[str, Any]:
        """For `signoff status`: {"executor", "queue": {"depth"}, "workers": [{"name", "host", "pid", "seen"}]}."""
        ...

    def close(self, *, kill: bool = False) -> None:
        """Stop reading; what was being read stays in the inbox."""
        ...


class BookedPool:
    """What both pools do alike with their books (Readings): let files in, count them, say how far each is."""

    _files: Readings

    def busy(self) -> int:
        """Files being read."""
        return len(self._files)

    def free(self) -> int:
        """How many more files may be given now: the readers' worth of work not given out yet
        (a file not yet opened counts one) is less than the number of readers by this much."""
        return self._files.free()

    def progress(self) -> dict[int, tuple[int, int]]:
        """task -> (pages read, pages in all), for each file being read page by page."""
        return self._files.progress()

    def submit(self, task: int, path: Path, sha256: str | None = None) -> None:
        """Give a file (its hash as the service read it, if known) to be read. Call only when free() > 0."""
        if self.free() <= 0:
            raise RuntimeError("no free reader: check free() before submit()")
        self._files.add(task, path, sha256)
        self._dispatch()

    def _dispatch(self) -> None:
        """Give out jobs while readers can take them."""
        raise NotImplementedError


def make_pool(
    settings: Settings, size: int, *, factory: ReaderFactory, log_level: int = logging.WARNING, log_json: bool = False
) -> Pool:
    """The pool ``settings.executor`` names: processes here ("local"), or Celery workers ("celery").

    Raises:
        ToolMissing: the celery executor without the celery extra installed, or its broker down.
    """
    if settings.executor == "celery":
        from pipeline.service import celery_app  # noqa: F401 - first: ToolMissing without the celery extra
        from pipeline.service.celery_pool import CeleryPool

        return CeleryPool(settings)
    from pipeline.service.pool import ReaderPool

    return ReaderPool(settings, size, factory=factory, log_level=log_level, log_json=log_json)


def die_with_parent() -> None:
    """Ask Linux to end this worker when its parent process dies, even by kill -9 (best effort elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def one_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def do_job(read: ReadFn, pages: PageReader | None, number: int, target: Any) -> Any:
    """Do one job in a worker: read page ``number`` of an opened file, or (0) open the file (a reader
    of pages) or read it whole. Bad input, a missing tool or a reader bug come back as a Result."""
    try:
        if number:
            assert pages is not None, "pages are given out only once a page reader opened the file"
            return pages.page(target, number)
        return pages.open(target) if pages is not None else read(target)
    except DocumentError as exc:
        return Failed(exc)
    except SetupError as exc:
        return Broken(exc)
    except Exception as exc:  # noqa: BLE001 - a reader bug on a strange file must not stop the service
        # Not swallowed: the writer quarantines the file with this message (or retries once).
        where = f" on page {number}" if number else ""
        log.debug("reader failed on %s%s", target, where, exc_info=True)
        return Crashed(f"the reader failed{where}: {one_line(exc)}")


@dataclass(slots=True)
class FileReading:
    """A file given to a pool: the loop's task, and, once a page reader opened it, its pages."""

    task: int
    path: Path
    name: str  # as logged: inbox-relative
    sha256: str | None = None  # as the service hashed it, if it said
    started: bool = False  # its first job (open it, or read it whole) was given out
    pages: FilePages | None = None
    readers: Counter[str] = field(default_factory=Counter)  # reader (pid, or Celery worker) -> pages it read
    opened_at: float = 0.0  # time.monotonic()
    logged_at: float = 0.0
    logged_pages: int = 0

    @property
    def load(self) -> int:
        """Its work not given out yet, in jobs: the file itself until it is opened (or, read whole,
        until it is back), then its pages not given out."""
        return 1 if self.pages is None else self.pages.waiting

    @property
    def has_job(self) -> bool:
        return not self.started if self.pages is None else self.pages.waiting > 0

    @property
    def total(self) -> int:
        src = self.pages.source if self.pages is not None else None
        return src.page_count if src is not None else 0

    @property
    def read(self) -> int:
        return len(self.pages.pages) if self.pages is not None else 0


class Readings:
    """The files a pool reads, in the order given, and what came back of each (the pool's books).

    Jobs go out files in the order given, pages in page order: (serial, 0, path) opens a file (or
    reads it whole), (serial, n, source) reads its page n. Whoever opens a file reads its page 1
    straight on. A file's result is handed back once all its pages are.
    """

    def __init__(self, settings: Settings, size: int) -> None:
        self.size = max(1, size)  # readers: free() keeps about this many jobs not given out
        self.files: dict[int, FileReading] = {}  # by serial, in the order given
        self._serial = 0
        self._inbox = Path(os.path.abspath(settings.inbox))
        # The pages of a file are grouped into documents here, matched to the same customers and articles.
        self._known = load_known(settings.customers, settings.articles)

    def __len__(self) -> int:
        return len(self.files)

    def free(self) -> int:
        """How many more files may be given now: the readers' worth of work not given out yet
        (a file not yet opened counts one) is less than the number of readers by this much."""
        return max(0, self.size - sum(r.load for r in self.files.values()))

    def progress(self) -> dict[int, tuple[int, int]]:
        return {r.task: (r.read, r.total) for r in self.files.values() if r.total}

    def waiting(self) -> int:
        """Files whose first job was not given out yet."""
        return sum(not r.started for r in self.files.values())

    def add(self, task: int, path: Path, sha256: str | None = None) -> int:
        self._serial += 1
        self.files[self._serial] = FileReading(task, path, self.name(path), sha256)
        return self._serial

    def name(self, path: Path) -> str:
        try:
            return printable(path.relative_to(self._inbox))
        except ValueError:
            return printable(path.name)

    def has_job(self) -> bool:
        return any(r.has_job for r in self.files.values())

    def next_job(self) -> tuple[int, int, Path | SourceFile] | None:
        """The next job to give out, counted as out: (serial, page number or 0, what to read)."""
        for serial, reading in self.files.items():
            if not reading.has_job:
                continue
            if reading.pages is None:
                reading.started = True
                return serial, 0, reading.path
            number = reading.pages.next_page()
            assert number is not None and reading.pages.source is not None
            return serial, number, reading.pages.source
        return None

    def put_back(self, serial: int, number: int) -> None:
        """A job given out that will never be done: give it out again, if its file is still being read."""
        reading = self.files.get(serial)
        if reading is None:
            return
        if number == 0:
            reading.started = False
        elif reading.pages is not None:
            reading.pages.put_back(number)

    def end(self, serial: int, result: Result) -> tuple[int, Result] | None:
        """End a file's reading with this result (it crashed); what comes back for it later is dropped."""
        reading = self.files.pop(serial, None)
        return (reading.task, result) if reading is not None else None

    def took(self, serial: int, number: int, payload: Any, reader: str) -> tuple[int, Result] | None:
        """Note what came back for one job; (task, the file's Result) once the file is all read."""
        reading = self.files.get(serial)
        if reading is None:
            log.debug("page %d of a file whose reading ended already came back: dropped", number)
            return None  # a page of it crashed (or a tool was missing)
        result = self._took(reading, number, payload, reader)
        if result is None:
            return None
        del self.files[serial]
        return reading.task, result

    def _took(self, reading: FileReading, number: int, payload: Any, reader: str) -> Result | None:
        if number == 0:
            if not isinstance(payload, SourceFile):
                return payload  # type: ignore[no-any-return]  # the file read whole (or why not)
            reading.pages = FilePages.opened(reading.path, payload)
            first = reading.pages.next_page()  # the reader that opened it reads it
            assert first == 1
            reading.opened_at = reading.logged_at = time.monotonic()
            if payload.page_count > PROGRESS_PAGES:
                log.info(
                    "reading %s: %d pages, in up to %d processes",
                    reading.name,
                    payload.page_count,
                    self.size,
                    extra={"signoff": {"source": reading.name, "pages_total": payload.page_count}},
                )
            return None
        assert reading.pages is not None
        if isinstance(payload, PageResult):
            reading.pages.came_back(number, payload)
            reading.readers[reader] += 1
        elif isinstance(payload, Failed):
            reading.pages.came_back(number, payload.error)
        else:
            return payload  # type: ignore[no-any-return]  # Crashed or Broken: the file cannot be read
        return self._assemble(reading) if reading.pages.done else None

    def _assemble(self, reading: FileReading) -> Result:
        """A file all read: its documents, grouped as reading it whole groups them (or why it fails)."""
        assert reading.pages is not None
        _, src, pages = reading.pages.read()
        if isinstance(src, DocumentError):
            return Failed(src)
        try:
            docs = documents(src, pages, self._known)
        except DocumentError as exc:
            return Failed(exc)
        except Exception as exc:  # noqa: BLE001 - as in a worker: the file is quarantined, the service goes on
            log.debug("grouping the pages of %s failed", reading.name, exc_info=True)
            return Crashed(f"the reader failed: {one_line(exc)}")
        self._log_read(reading)
        return Read(src.kind, src.sha256, docs)

    # -- progress -----------------------------------------------------------------------------------
    def log_progress(self) -> None:
        now = time.monotonic()
        for r in self.files.values():
            if r.total <= PROGRESS_PAGES or r.read == r.logged_pages or now - r.logged_at < PROGRESS_QUIET:
                continue
            if r.read - r.logged_pages >= PROGRESS_STEP * r.total or now - r.logged_at >= PROGRESS_EVERY:
                log.info(
                    "%s: %d of %d pages read",
                    r.name,
                    r.read,
                    r.total,
                    extra={"signoff": {"source": r.name, "pages_read": r.read, "pages_total": r.total}},
                )
                r.logged_at, r.logged_pages = now, r.read

    def _log_read(self, r: FileReading) -> None:
        """A line when a file is all read: how long it took, and which processes read its pages."""
        seconds = time.monotonic() - r.opened_at
        fields = {
            "source": r.name,
            "pages_read": r.read,
            "pages_total": r.total,
            "seconds": round(seconds, 1),
            "readers": dict(sorted(r.readers.items())),
        }
        level = logging.INFO if r.total > PROGRESS_PAGES else logging.DEBUG
        log.log(
            level,
            "%s: all %d pages read in %.0f s by %d process(es)",
            r.name,
            r.total,
            seconds,
            len(r.readers),
            extra={"signoff": fields},
        )
