"""Reading in worker processes: a file's pages are read across all of them (or, with a reader that
reads whole files only, each file in one); they send back what they found and write nothing."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, NamedTuple, Protocol, Union, runtime_checkable

from pipeline.classify import CustomerList, load_customers
from pipeline.document import ScanDoc
from pipeline.errors import DocumentError, SetupError
from pipeline.ingest import SourceFile
from pipeline.parallel import FilePages
from pipeline.reader import PageResult
from pipeline.run import Pipeline, documents
from pipeline.service.journal import printable
from pipeline.settings import Settings

__all__ = [
    "Broken",
    "Crashed",
    "Failed",
    "PageReader",
    "PipelineReader",
    "Read",
    "ReaderPool",
    "Result",
    "die_with_parent",
    "pipeline_reader",
]

log = logging.getLogger(__name__)

# Jobs a worker holds at once: the one it reads and one waiting behind it, so it need not wait for
# this process between two. Only the one it reads is rasterised.
DEPTH = 2
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


def die_with_parent() -> None:
    """Ask Linux to end this worker when its parent process dies, even by kill -9 (best effort elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _one_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()


def _do(read: ReadFn, pages: PageReader | None, number: int, target: Any) -> Any:
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
        logging.getLogger(__name__).debug("reader failed on %s%s", target, where, exc_info=True)
        return Crashed(f"the reader failed{where}: {_one_line(exc)}")


def _worker(conn: Connection, settings: Settings, factory: ReaderFactory, log_level: int, log_json: bool) -> None:
    # One tesseract thread per worker: the workers already use every core.
    os.environ["OMP_THREAD_LIMIT"] = "1"
    # The service decides when reading stops; a Ctrl-C in its terminal must not reach us (or
    # tesseract under us, which would look like a bad file): our own process group.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    die_with_parent()
    from pipeline.service.logs import configure_logging

    configure_logging(log_level, json_lines=log_json)
    try:
        read = factory(settings)
    except SetupError as exc:
        with contextlib.suppress(OSError):
            conn.send((None, 0, Broken(exc)))
        return
    conn.send((None, 0, "ready"))
    pages = read if isinstance(read, PageReader) else None
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        serial, number, target = msg
        result = _do(read, pages, number, target)
        if not _send(conn, serial, number, result):
            return
        if number == 0 and isinstance(result, SourceFile):
            # Who opens a file reads its first page straight on (the pool counts on it): a
            # one-page scan needs no second word from the service.
            if not _send(conn, serial, 1, _do(read, pages, 1, result)):
                return


def _send(conn: Connection, serial: int, number: int, result: Any) -> bool:
    """Send a job's result back; False if the service is gone."""
    try:
        conn.send((serial, number, result))
    except (BrokenPipeError, ConnectionResetError):
        return False
    except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled
        with contextlib.suppress(OSError):
            conn.send((serial, number, Crashed(f"the reader's result could not be sent back: {exc}")))
    return True


class _Job(NamedTuple):
    serial: int  # the file's, in the pool
    number: int  # its page; 0: the file itself (open it, or read it whole)


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    jobs: list[_Job] = field(default_factory=list)  # given to it, in order: it reads the first
    ready: bool = False  # it started up; a death before that is not the file's fault
    lost: bool = False  # a job could not be sent: it is dying

    def takes(self) -> bool:
        """Whether it may be given a job now: it holds none, or fewer than DEPTH pages (a file read
        whole takes a while, so nothing waits behind one)."""
        return not self.lost and len(self.jobs) < DEPTH and all(job.number for job in self.jobs)


@dataclass(slots=True)
class _Reading:
    """A file given to the pool: the loop's task, and, once a page reader opened it, its pages."""

    task: int
    path: Path
    name: str  # as logged: inbox-relative
    started: bool = False  # its first job (open it, or read it whole) was given out
    pages: FilePages | None = None
    readers: Counter[int] = field(default_factory=Counter)  # pid -> pages of it that process read
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


class ReaderPool:
    """Worker processes that read files; the caller (the one writer) files what they send back.

    With the real reader (a PageReader) a worker opens each file and the pages are read in every
    worker, in page order, two at most given to each at a time; this process groups them into the
    file's documents once all are back. A reader of whole files has each file read in one worker.
    Either way ``free()`` lets in another file only when the workers would otherwise run out of
    work, so memory stays bounded however many files wait. Workers start when there is work and
    are replaced when one dies.
    """

    def __init__(
        self,
        settings: Settings,
        size: int,
        *,
        factory: ReaderFactory = pipeline_reader,
        log_level: int = logging.WARNING,
        log_json: bool = False,
    ) -> None:
        self.settings = settings
        self.size = max(1, size)
        self._factory = factory
        self._log = (log_level, log_json)
        self._ctx = mp.get_context("spawn")  # never fork a process that runs observer threads
        self._workers: list[_Worker] = []
        self._files: dict[int, _Reading] = {}  # by serial, in the order given
        self._serial = 0
        self._inbox = Path(os.path.abspath(settings.inbox))
        # The pages of a file are grouped into documents here, matched to the same customers.
        self._customers: CustomerList | None = load_customers(settings.customers) if settings.customers else None

    def busy(self) -> int:
        """Files being read."""
        return len(self._files)

    def free(self) -> int:
        """How many more files may be given now: the workers' worth of work not given out yet
        (a file not yet opened counts one) is less than the number of workers by this much."""
        return max(0, self.size - sum(r.load for r in self._files.values()))

    def progress(self) -> dict[int, tuple[int, int]]:
        """task -> (pages read, pages in all), for each file being read page by page."""
        return {r.task: (r.read, r.total) for r in self._files.values() if r.total}

    def submit(self, task: int, path: Path) -> None:
        """Give a file to the pool (starting workers as needed). Call only when free() > 0."""
        if self.free() <= 0:
            raise RuntimeError("no free reader: check free() before submit()")
        self._serial += 1
        self._files[self._serial] = _Reading(task, path, self._name(path))
        self._dispatch()

    def wait(self, timeout: float) -> list[tuple[int | None, Result]]:
        """Files whose reading ended within `timeout` seconds: (task, result); a dead worker's file Crashed.

        Results still arriving for a file that already ended (a worker died on one of its pages)
        are dropped.
        """
        if not self._workers:
            time.sleep(timeout)
            return []
        handles: list[Any] = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        ready = set(wait(handles, timeout))
        out: list[tuple[int | None, Result]] = []
        for worker in list(self._workers):
            if worker.conn in ready:
                self._receive(worker, out)
            if worker.process.sentinel in ready or not worker.process.is_alive():
                self._bury(worker, out)
        self._dispatch()
        self._log_progress()
        return out

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: idle ones are told to finish; busy ones (or all, with kill) are killed.

        Killing loses nothing: workers only read, and each file they held stays in the inbox.
        """
        for worker in self._workers:
            if kill or worker.jobs:
                pid = worker.process.pid
                if pid:  # never killpg(0): that is our own group
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)  # the worker and its tesseract, in its own group
                with contextlib.suppress(OSError):
                    worker.process.kill()
            else:
                with contextlib.suppress(OSError):
                    worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(timeout=5)
            worker.conn.close()
        self._workers.clear()
        self._files.clear()

    # -- giving out work ----------------------------------------------------------------------------
    def _name(self, path: Path) -> str:
        try:
            return printable(path.relative_to(self._inbox))
        except ValueError:
            return printable(path.name)

    def _spawn(self) -> _Worker:
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(
            target=_worker,
            args=(child, self.settings, self._factory, *self._log),
            name="signoff-reader",
            daemon=True,
        )
        proc.start()
        child.close()
        worker = _Worker(proc, parent)
        self._workers.append(worker)
        return worker

    def _taker(self) -> _Worker | None:
        """The worker to give the next job: an idle one, a new one, else one with a page in hand."""
        idle = next((w for w in self._workers if not w.jobs and not w.lost), None)
        if idle is not None:
            return idle
        if len(self._workers) < self.size:
            return self._spawn()
        return min((w for w in self._workers if w.takes()), key=lambda w: len(w.jobs), default=None)

    def _dispatch(self) -> None:
        """Give out jobs while a worker can take one: files in the order given, pages in page order."""
        for serial, reading in list(self._files.items()):
            while reading.has_job:
                worker = self._taker()
                if worker is None:
                    return
                self._give(worker, serial, reading)

    def _give(self, worker: _Worker, serial: int, reading: _Reading) -> None:
        if reading.pages is None:
            reading.started = True
            job, target = _Job(serial, 0), reading.path
        else:
            number = reading.pages.next_page()
            assert number is not None and reading.pages.source is not None
            job, target = _Job(serial, number), reading.pages.source
        try:
            worker.conn.send((job.serial, job.number, target))
        except OSError:
            worker.lost = True  # it is dying (or as good as): wait() buries it
            with contextlib.suppress(OSError):
                worker.process.kill()
            self._put_back(job)
            return
        worker.jobs.append(job)

    def _put_back(self, job: _Job) -> None:
        """A job a worker will never begin: give it out again, if its file is still being read."""
        reading = self._files.get(job.serial)
        if reading is None:
            return
        if job.number == 0:
            reading.started = False
        elif reading.pages is not None:
            reading.pages.put_back(job.number)

    # -- what comes back ----------------------------------------------------------------------------
    def _receive(self, worker: _Worker, out: list[tuple[int | None, Result]]) -> None:
        """Take in everything the worker sent (it reads its jobs in order and answers each)."""
        while True:
            try:
                if not worker.conn.poll():
                    return
                serial, number, payload = worker.conn.recv()
            except (EOFError, OSError):
                return  # died: the sentinel says so
            if serial is None:
                if payload == "ready":
                    worker.ready = True
                else:
                    out.append((None, payload))  # Broken: its reader could not be made
                continue
            self._done(worker, _Job(serial, number), payload)
            reading = self._files.get(serial)
            if reading is None:
                log.debug("page %d of a file whose reading ended already came back: dropped", number)
                continue  # a page of it crashed (or a tool was missing)
            result = self._took(reading, number, payload, worker.process.pid or 0)
            if result is not None:
                del self._files[serial]
                out.append((reading.task, result))

    @staticmethod
    def _done(worker: _Worker, job: _Job, payload: Any) -> None:
        """Strike a job off the worker's list; a file it opened becomes its job of reading page 1."""
        with contextlib.suppress(ValueError):
            at = worker.jobs.index(job)
            if job.number == 0 and isinstance(payload, SourceFile):
                worker.jobs[at] = _Job(job.serial, 1)
            else:
                del worker.jobs[at]

    def _took(self, reading: _Reading, number: int, payload: Any, pid: int) -> Result | None:
        """Note what came back for one job of a file; the file's Result once it is all read."""
        if number == 0:
            if not isinstance(payload, SourceFile):
                return payload  # the file read whole (or why not)
            reading.pages = FilePages.opened(reading.path, payload)
            first = reading.pages.next_page()  # the worker that opened it reads it
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
            reading.readers[pid] += 1
        elif isinstance(payload, Failed):
            reading.pages.came_back(number, payload.error)
        else:
            return payload  # Crashed or Broken: the file cannot be read
        return self._assemble(reading) if reading.pages.done else None

    def _assemble(self, reading: _Reading) -> Result:
        """A file all read: its documents, grouped as reading it whole groups them (or why it fails)."""
        assert reading.pages is not None
        _, src, pages = reading.pages.read()
        if isinstance(src, DocumentError):
            return Failed(src)
        try:
            docs = documents(src, pages, self._customers)
        except DocumentError as exc:
            return Failed(exc)
        except Exception as exc:  # noqa: BLE001 - as in a worker: the file is quarantined, the service goes on
            log.debug("grouping the pages of %s failed", reading.name, exc_info=True)
            return Crashed(f"the reader failed: {_one_line(exc)}")
        self._log_read(reading)
        return Read(src.kind, src.sha256, docs)

    def _bury(self, worker: _Worker, out: list[tuple[int | None, Result]]) -> None:
        """A worker died: the file of the job it was reading Crashed; the jobs waiting behind it go to others."""
        self._receive(worker, out)  # what it sent before it died
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        first = worker.jobs[0] if worker.jobs else None
        reading = self._files.get(first.serial) if first is not None else None
        if not worker.ready:
            reason = SetupError(f"a reading process could not start (exit code {code}); see the log above")
            out.append((reading.task if reading is not None else None, Broken(reason)))
        elif first is not None and reading is not None:
            where = f" on page {first.number}" if first.number else ""
            del self._files[first.serial]
            out.append((reading.task, Crashed(f"the reading process died (exit code {code}){where}")))
        for job in worker.jobs[1:]:
            self._put_back(job)
        worker.conn.close()
        self._workers.remove(worker)

    # -- progress -----------------------------------------------------------------------------------
    def _log_progress(self) -> None:
        now = time.monotonic()
        for r in self._files.values():
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

    def _log_read(self, r: _Reading) -> None:
        """A line when a file is all read: how long it took, and which processes read its pages."""
        seconds = time.monotonic() - r.opened_at
        fields = {
            "source": r.name,
            "pages_read": r.read,
            "pages_total": r.total,
            "seconds": round(seconds, 1),
            "readers": {str(pid): n for pid, n in sorted(r.readers.items())},
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
