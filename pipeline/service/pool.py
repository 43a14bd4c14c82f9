"""Reading in worker processes: a file's pages are read across all of them (or, with a reader that
reads whole files only, each file in one); they send back what they found and write nothing."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, NamedTuple

from pipeline.errors import SetupError
from pipeline.ingest import SourceFile
from pipeline.service.reading import (
    BookedPool,
    Broken,
    Crashed,
    PageReader,
    ReaderFactory,
    Readings,
    Result,
    die_with_parent,
    do_job,
    pipeline_reader,
)
from pipeline.settings import Settings

__all__ = ["DEPTH", "ReaderPool"]

log = logging.getLogger(__name__)

# Jobs a worker holds at once: the one it reads and one waiting behind it, so it need not wait for
# this process between two. Only the one it reads is rasterised.
DEPTH = 2


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
        result = do_job(read, pages, number, target)
        if not _send(conn, serial, number, result):
            return
        if number == 0 and isinstance(result, SourceFile):
            # Who opens a file reads its first page straight on (the pool counts on it): a
            # one-page scan needs no second word from the service.
            if not _send(conn, serial, 1, do_job(read, pages, 1, result)):
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


class ReaderPool(BookedPool):
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
        self.what = f"{self.size} reader process(es)"
        self._factory = factory
        self._log = (log_level, log_json)
        self._ctx = mp.get_context("spawn")  # never fork a process that runs observer threads
        self._workers: list[_Worker] = []
        self._files = Readings(settings, self.size)

    def state(self) -> dict[str, Any]:
        """For `signoff status`: files given to the pool that no worker has begun, and the workers."""
        seen = datetime.now().astimezone().isoformat(timespec="seconds")
        host = socket.gethostname()
        workers = [
            {"name": f"reader-{w.process.pid}", "host": host, "pid": w.process.pid, "seen": seen, "busy": bool(w.jobs)}
            for w in self._workers
            if w.process.is_alive()
        ]
        return {"executor": "local", "queue": {"depth": self._files.waiting()}, "workers": workers}

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
        self._files.log_progress()
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
        self._files.files.clear()

    # -- giving out work ----------------------------------------------------------------------------
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
        while self._files.has_job():
            worker = self._taker()
            if worker is None:
                return
            job = self._files.next_job()
            assert job is not None
            self._give(worker, *job)

    def _give(self, worker: _Worker, serial: int, number: int, target: Path | SourceFile) -> None:
        job = _Job(serial, number)
        try:
            worker.conn.send((serial, number, target))
        except OSError:
            worker.lost = True  # it is dying (or as good as): wait() buries it
            with contextlib.suppress(OSError):
                worker.process.kill()
            self._files.put_back(serial, number)
            return
        worker.jobs.append(job)

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
            ended = self._files.took(serial, number, payload, str(worker.process.pid or 0))
            if ended is not None:
                out.append(ended)

    @staticmethod
    def _done(worker: _Worker, job: _Job, payload: Any) -> None:
        """Strike a job off the worker's list; a file it opened becomes its job of reading page 1."""
        with contextlib.suppress(ValueError):
            at = worker.jobs.index(job)
            if job.number == 0 and isinstance(payload, SourceFile):
                worker.jobs[at] = _Job(job.serial, 1)
            else:
                del worker.jobs[at]

    def _bury(self, worker: _Worker, out: list[tuple[int | None, Result]]) -> None:
        """A worker died: the file of the job it was reading Crashed; the jobs waiting behind it go to others."""
        self._receive(worker, out)  # what it sent before it died
        worker.process.join(timeout=1)
        code = worker.process.exitcode
        first = worker.jobs[0] if worker.jobs else None
        reading = self._files.files.get(first.serial) if first is not None else None
        if not worker.ready:
            reason = SetupError(f"a reading process could not start (exit code {code}); see the log above")
            out.append((reading.task if reading is not None else None, Broken(reason)))
        elif first is not None:
            where = f" on page {first.number}" if first.number else ""
            ended = self._files.end(first.serial, Crashed(f"the reading process died (exit code {code}){where}"))
            if ended is not None:
                out.append(ended)
        for job in worker.jobs[1:]:
            self._files.put_back(job.serial, job.number)
        worker.conn.close()
        self._workers.remove(worker)
