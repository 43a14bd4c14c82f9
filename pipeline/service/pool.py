"""Reading in worker processes: each reads one file at a time and sends back what it found; nothing is written there."""

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
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Union

from pipeline.document import ScanDoc
from pipeline.errors import DocumentError, SetupError
from pipeline.settings import Settings

__all__ = ["Broken", "Crashed", "Failed", "Read", "ReaderPool", "Result", "die_with_parent", "pipeline_reader"]

log = logging.getLogger(__name__)


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


def pipeline_reader(settings: Settings) -> ReadFn:
    """The real reader: one Pipeline per worker process (its OCR engine and customer list built once)."""
    from pipeline.run import Pipeline

    pipe = Pipeline(settings)

    def read(path: Path) -> Read:
        src, docs = pipe.read_file(path)
        return Read(src.kind, src.sha256, docs)

    return read


def die_with_parent() -> None:
    """Ask Linux to end this worker when its parent process dies, even by kill -9 (best effort elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


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
            conn.send((None, Broken(exc)))
        return
    conn.send((None, "ready"))
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        task, path = msg
        result: Result
        try:
            result = read(path)
        except DocumentError as exc:
            result = Failed(exc)
        except SetupError as exc:
            result = Broken(exc)
        except Exception as exc:  # noqa: BLE001 - a reader bug on a strange file must not stop the service
            # Not swallowed: the writer quarantines the file with this message (or retries once).
            tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
            result = Crashed(f"the reader failed: {tb}")
            logging.getLogger(__name__).debug("reader failed on %s", path, exc_info=True)
        try:
            conn.send((task, result))
        except (BrokenPipeError, ConnectionResetError):
            return
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled
            with contextlib.suppress(OSError):
                conn.send((task, Crashed(f"the reader's result could not be sent back: {exc}")))


@dataclass(slots=True)
class _Worker:
    process: BaseProcess
    conn: Connection
    task: tuple[int, Path] | None = None
    started: float = 0.0
    ready: bool = False  # it started up; a death before that is not the file's fault


class ReaderPool:
    """Worker processes that read files; the caller (the one writer) files what they send back.

    At most `size` files are being read at once, one per worker, so memory stays bounded however
    many files wait. Workers start when there is work and are replaced when one dies.
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

    def busy(self) -> int:
        return sum(1 for w in self._workers if w.task is not None)

    def free(self) -> int:
        return self.size - self.busy()

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

    def submit(self, task: int, path: Path) -> None:
        """Give a file to an idle worker (starting one if needed). Call only when free() > 0."""
        worker = next((w for w in self._workers if w.task is None), None)
        if worker is None:
            if len(self._workers) >= self.size:
                raise RuntimeError("no free reader: check free() before submit()")
            worker = self._spawn()
        worker.task = (task, path)
        worker.started = time.monotonic()
        worker.conn.send((task, path))

    def wait(self, timeout: float) -> list[tuple[int | None, Result]]:
        """Results that arrived within `timeout` seconds: (task, result); a dead worker's task Crashed."""
        if not self._workers:
            time.sleep(timeout)
            return []
        handles: list[Any] = [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
        ready = set(wait(handles, timeout))
        out: list[tuple[int | None, Result]] = []
        for worker in list(self._workers):
            if worker.conn in ready:
                try:
                    task, result = worker.conn.recv()
                except (EOFError, OSError):
                    pass  # died: the sentinel says so below
                else:
                    if result == "ready":
                        worker.ready = True
                        continue
                    worker.task = None
                    out.append((task, result))
                    continue
            if worker.process.sentinel in ready or not worker.process.is_alive():
                worker.process.join(timeout=1)
                code = worker.process.exitcode
                if not worker.ready:
                    reason = SetupError(f"a reading process could not start (exit code {code}); see the log above")
                    out.append((worker.task[0] if worker.task else None, Broken(reason)))
                elif worker.task is not None:
                    out.append((worker.task[0], Crashed(f"the reading process died (exit code {code})")))
                worker.conn.close()
                self._workers.remove(worker)
        return out

    def close(self, *, kill: bool = False) -> None:
        """Stop the workers: idle ones are told to finish; busy ones (or all, with kill) are killed.

        Killing loses nothing: workers only read, and each file they held stays in the inbox.
        """
        for worker in self._workers:
            if kill or worker.task is not None:
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
