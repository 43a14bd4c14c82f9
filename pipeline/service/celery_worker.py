"""`signoff worker`: reading processes that take tasks from the celery executor's queue, on any machine that sees the inbox.

The command's process only watches over ``concurrency`` reading processes (one per core by
default, tesseract single-threaded in each). Each reading process is a Celery worker of its own
with the solo pool: it takes one task, reads it in that very process, stores what it read, then
takes the next. So killing a reading process (kill -9, out of memory) loses exactly the one task
it held, which the service sends to another worker (celery_pool); killing the command's process
takes its reading processes with it (they die with their parent), as losing the machine would.
A reading process that dies is started again. Each runs in its own process group: a Ctrl-C in
the terminal, which would also kill its tesseract mid-page, reaches only the command's process,
which stops them cleanly (each finishes the page it reads).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import socket
import sys
import threading
import time
import warnings
from dataclasses import replace
from datetime import datetime
from multiprocessing.process import BaseProcess
from pathlib import Path
from types import FrameType
from typing import Any

from pipeline.errors import ConfigError, ExitCode, SetupError
from pipeline.ingest import SourceFile
from pipeline.reader import PageResult
from pipeline.service.journal import printable
from pipeline.service.reading import (
    Broken,
    Crashed,
    Failed,
    PageReader,
    ReaderFactory,
    ReadFn,
    die_with_parent,
    do_job,
    pipeline_reader,
)
from pipeline.settings import Settings, redact_url

__all__ = ["serve"]

log = logging.getLogger(__name__)

STOP_WAIT = 120.0  # seconds a reading process has to finish its page when stopped, before it is killed
RESTART_PAUSE = (1.0, 30.0)  # seconds before a reading process that died is replaced: first, most
FATAL = (int(ExitCode.USAGE), int(ExitCode.TOOL_MISSING))  # a reading process that exits so: no restart


def serve(
    settings: Settings,
    concurrency: int,
    *,
    factory: ReaderFactory = pipeline_reader,
    log_level: int = logging.WARNING,
    service_level: int | None = None,
    log_json: bool = False,
) -> int:
    """Run ``concurrency`` reading processes until SIGTERM or Ctrl-C; the exit code.

    Raises:
        ToolMissing: the celery extra, tesseract or poppler is missing; BrokerUnreachable: Redis
            does not answer. ConfigError: no broker configured, or no inbox here.
    """
    from pipeline.service.celery_app import QUEUE, Board  # ToolMissing without the extra

    if not settings.broker:
        raise ConfigError('signoff worker needs the broker the service sends to, e.g. broker = "redis://host:6379/0"')
    if not settings.inbox.is_dir():
        raise ConfigError(f"the inbox {settings.inbox} is not a folder here: mount the inbox share there, or set inbox")
    board = Board(settings.broker)
    try:
        board.ping()
    finally:
        board.close()
    factory(settings)  # tesseract and its languages are here, before any task is taken (ToolMissing)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    ctx = mp.get_context("spawn")
    readers: list[BaseProcess] = []

    def start() -> None:
        proc = ctx.Process(
            target=_reader,
            args=(settings, factory, (log_level, service_level, log_json)),
            name="signoff-reader",
            daemon=True,
        )
        proc.start()
        readers.append(proc)

    log.info(
        "signoff worker: %d reading process(es) for queue %r on %s, inbox %s; Ctrl-C or SIGTERM stops",
        concurrency,
        QUEUE,
        redact_url(settings.broker),
        settings.inbox,
    )
    code = 0
    deaths: list[float] = []  # when reading processes died, the last minute's
    try:
        for _ in range(concurrency):
            start()
        while not stop.wait(0.5):
            for proc in list(readers):
                if proc.is_alive():
                    continue
                readers.remove(proc)
                proc.join(1)
                if proc.exitcode in FATAL:
                    code = int(proc.exitcode or 1)
                    log.error("a reading process cannot read (exit code %s; its log says why): stopping", proc.exitcode)
                    stop.set()
                    break
                # A page that kills whoever reads it is sent to a few workers and then given up on
                # (celery_pool.DELIVERIES); dying again and again soon after, this waits longer each time.
                now = time.monotonic()
                deaths = [t for t in deaths if now - t < 60] + [now]
                pause = min(RESTART_PAUSE[1], RESTART_PAUSE[0] * 2 ** (len(deaths) - 1))
                log.warning(
                    "reading process %s died (exit code %s); starting another in %.0f s", proc.pid, proc.exitcode, pause
                )
                if stop.wait(pause):
                    break
                start()
    finally:
        _stop_all(readers)
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return code


def _stop_all(procs: list[BaseProcess]) -> None:
    """SIGTERM: each finishes its page (Celery's warm shutdown); after STOP_WAIT, its process group is killed."""
    for proc in procs:
        with contextlib.suppress(OSError):
            if proc.pid:
                os.kill(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    for proc in procs:
        proc.join(max(0.0, deadline - time.monotonic()))
        if proc.is_alive() and proc.pid:
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)  # it and its tesseract: its group is its own
            proc.join(5)


# -- one reading process ------------------------------------------------------------------------------
class _Reader:
    """What a reading process knows: its reader, its inbox, its name, and what it reads now (its heartbeat says)."""

    def __init__(self, settings: Settings, read: ReadFn, board: Any, node: str) -> None:
        self.settings = settings
        self.read = read
        self.pages = read if isinstance(read, PageReader) else None
        self.inbox = Path(os.path.realpath(settings.inbox))
        self.board = board
        self.node = node
        self.started = _now()
        self.reading: str | None = None
        self.done = 0  # pages read
        self.changed = threading.Event()  # what it reads changed: the heartbeat says so now, not at its next tick
        self.stopping = False  # a shutdown began: a failure now may be our own doing (a killed tesseract)
        self.broken: SetupError | None = None

    def run(self, task: Any, what: dict[str, Any]) -> dict[str, Any] | None:
        """The task: open a file and read its page 1, or read one page; what was read, as JSON."""
        from pipeline.service.wire import decode, encode

        try:
            if not self.board.wanted(task.request.id):
                return None  # the service gave up on it (a copy of it went to another worker)
        except self.board.errors as exc:  # cannot tell: read it (a result nobody wants is dropped)
            log.debug("cannot ask whether task %s is wanted: %s", task.request.id, exc)
        number = int(what["number"])
        rel = decode(what["source"]).path if number else decode(what["path"])
        name = printable(rel)
        where = f" page {number}" if number else " (opening it, and its page 1)"
        path = self._inside(rel)
        if path is None:
            results: list[tuple[int, Any]] = [(number, Crashed(f"refused {name}: it is not inside the inbox"))]
        elif not os.path.lexists(path):
            results = [(number, Crashed(f"{name} is not in this worker's inbox {self.inbox} (is the share mounted there?)"))]
        else:
            target = replace(decode(what["source"]), path=path) if number else path
            self.reading = f"{name}{where}"
            self.changed.set()
            started = time.monotonic()
            log.debug("reading %s%s", name, where, extra={"signoff": {"source": name, "page": number}})
            results = [(number, do_job(self.read, self.pages, number, target))]
            if number == 0 and isinstance(results[0][1], SourceFile):
                results.append((1, do_job(self.read, self.pages, 1, results[0][1])))  # who opens a file reads page 1
            self.done += sum(isinstance(r, PageResult) for _, r in results)
            self.reading = None
            self.changed.set()
            log.info("read %s%s in %.1f s", name, where, time.monotonic() - started, extra={"signoff": {"source": name, "page": number}})
        broken = next((r.error for _, r in results if isinstance(r, Broken)), None)
        if broken is not None:
            # Not the file's fault, and no use taking more tasks: this worker stops (exit code 3).
            self.broken = broken
            log.error("%s; this worker stops", broken.message)
            os.kill(os.getpid(), signal.SIGTERM)  # Celery's warm shutdown, once this task is done
            return {"again": f"the worker {self.node} cannot read: {broken.message}"}
        if self.stopping and any(isinstance(r, (Failed, Crashed)) for _, r in results):
            return {"again": f"the worker {self.node} stopped while it read it"}
        return {"reader": self.node, "results": [[n, _encoded(r, rel, encode)] for n, r in results]}

    def _inside(self, rel: Path) -> Path | None:
        """The file under this worker's inbox, or None if ``rel`` would lead out of it."""
        if rel.is_absolute() or ".." in rel.parts:
            return None
        path = self.inbox / rel
        real = Path(os.path.realpath(path))
        return path if real == self.inbox or real.is_relative_to(self.inbox) else None

    def beat(self) -> dict[str, Any]:
        return {
            "name": self.node,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": self.started,
            "seen": _now(),
            "reading": self.reading,
            "pages": self.done,
        }


def _encoded(result: Any, rel: Path, encode: Any) -> Any:
    """A result as JSON; an opened file names its path inside the inbox, as the service sent it."""
    if isinstance(result, SourceFile):
        result = replace(result, path=rel)
    try:
        return encode(result)
    except TypeError as exc:
        return encode(Crashed(f"the reader's result could not be sent back: {exc}"))


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _reader(settings: Settings, factory: ReaderFactory, logs: tuple[int, int | None, bool]) -> None:
    """A reading process: a Celery worker (solo pool: it reads in this very process) of signoff's one task."""
    os.environ["OMP_THREAD_LIMIT"] = "1"  # the reading processes already use every core
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)  # a terminal's Ctrl-C reaches our parent, which stops us cleanly
    die_with_parent()
    from pipeline.service.logs import configure_logging

    log_level, service_level, log_json = logs
    configure_logging(log_level, json_lines=log_json, service_level=service_level)
    from celery import signals

    from pipeline.service.celery_app import QUEUE, TASK, Board, make_app

    # Celery's own lines go out as ours do (stderr, text or JSON); it configures no logging itself.
    signals.setup_logging.connect(lambda **_: None, weak=False)
    celery_log = logging.getLogger("celery")
    celery_log.handlers[:] = logging.getLogger("pipeline").handlers
    celery_log.setLevel(max(log_level, logging.WARNING))
    celery_log.propagate = False

    try:
        read = factory(settings)
    except SetupError as exc:
        log.error("%s", exc.message)
        sys.exit(int(exc.exit_code))
    node = f"signoff-{os.getpid()}@{socket.gethostname()}"
    board = Board(settings.broker or "")
    me = _Reader(settings, read, board, node)
    app = make_app(settings)

    def read_task(task: Any, what: dict[str, Any]) -> dict[str, Any] | None:
        return me.run(task, what)

    app.task(name=TASK, bind=True, typing=False)(read_task)

    def shutting_down(**_: Any) -> None:
        me.stopping = True

    signals.worker_shutting_down.connect(shutting_down, weak=False)
    beating = threading.Event()
    threading.Thread(target=_heartbeat, args=(me, settings.worker_timeout, beating), name="heartbeat", daemon=True).start()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        worker = app.Worker(
            hostname=node,
            pool_cls="solo",
            concurrency=1,
            queues=[QUEUE],
            loglevel=logging.getLevelName(max(log_level, logging.WARNING)),
            quiet=True,
            without_gossip=True,
            without_mingle=True,
            without_heartbeat=True,
        )
    for warning in said:  # Celery's (running as root, say): one log line each, not a page of text
        log.warning("celery: %s", " ".join(str(warning.message).split()))
    try:
        worker.start()
    finally:
        beating.set()
        me.changed.set()
        with contextlib.suppress(*Board.errors):
            board.gone(node)
    sys.exit(int(ExitCode.TOOL_MISSING) if me.broken is not None else int(worker.exitcode or 0))


def _heartbeat(me: _Reader, timeout: float, stop: threading.Event) -> None:
    """Say this worker lives, every fifth of ``timeout`` and whenever what it reads changed (so
    `signoff status` shows each page read as it is); the key lapses ``timeout`` after the last time."""
    from pipeline.service.celery_app import Board

    failing = False
    while True:
        me.changed.clear()
        try:
            me.board.beat(me.node, me.beat(), timeout)
            failing = False
        except Board.errors as exc:
            if not failing:
                log.warning("cannot reach the broker for the heartbeat: %s", exc)
            failing = True
        me.changed.wait(max(0.5, timeout / 5))
        if stop.is_set():
            return
