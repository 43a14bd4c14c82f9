"""Reading on Celery workers on other machines (`executor = "celery"`); this process stays the one writer.

Import celery_app first (make_pool does): it turns a missing celery extra into ToolMissing.

A file goes out as one task that opens it (checks it, counts its pages, reads page 1), then as a
task per other page, so a 500-page batch is read on every worker there is. Tasks name the file
by its path inside the inbox: each worker finds it under its own inbox (the share may be mounted
elsewhere there). What a worker read comes back through the result backend, as JSON
(pipeline.service.wire), and is grouped into documents here, as the local pool does
(pipeline.service.reading.Readings).

Workers that die cost a page, not a file, and never a second filing:
- A worker stores STARTED with its name when it begins a task, and its heartbeat key lives only
  while it does (celery_app.Board). A task whose worker's heartbeat has gone, or one taken from
  the queue that never began within ``worker_timeout``, is sent again under a new id; the old
  one is no longer wanted, and whatever comes of it is dropped (and deleted).
- A task is sent at most DELIVERIES times: a page that kills every worker that reads it makes
  its file Crashed, which the loop reads once more and then quarantines.

A broker that fails costs the pages in flight, not the file: that is not the page's doing, so it
does not count towards DELIVERIES (LOSSES bounds it instead).
- Redis restarted without persistence (or flushed) lost the queue, the results not yet taken and
  every note: the service sees its mark (celery_app.KEPT_KEY) gone, at the next tick, and sends
  every task out again under a new id; what the old ones bring is dropped.
- A worker that finished a page while Redis was away could not store it, and Celery records the
  task as failed with that connection error: a failure whose exception is a broker or network
  error (_broker_failed) is sent again; any other failure is the file's (Crashed).
- For ``worker_timeout`` after either, or after the broker answers again, heartbeats are not
  judged: the workers have not had time to say again that they live.
- Only this process files, from the journal, and only what it takes here: a task's result is
  taken once, then deleted; results for a file that ended already are dropped.
Celery acknowledges a task once its worker stored the result, not once it is filed here: if this
process dies between the two, the file is still in the inbox and is read again at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import redis
from celery import states
from kombu.exceptions import KombuError, OperationalError

from pipeline.ingest import SourceFile
from pipeline.service.celery_app import QUEUE, TASK, Board, lost_data, make_app
from pipeline.service.reading import BookedPool, Broken, Crashed, Readings, Result, one_line
from pipeline.service.wire import WireError, decode, encode
from pipeline.settings import Settings, redact_url

__all__ = ["DELIVERIES", "LOSSES", "CeleryPool"]

log = logging.getLogger(__name__)

DEPTH = 2  # tasks out per worker process: the one it reads and one waiting in the queue
DELIVERIES = 3  # times a task is sent before its file counts as Crashed (a worker died on it each time)
AGAIN = 20  # times a task a worker could not do (it was stopping, or broken) is sent again
LOSSES = 10  # times a task the broker lost or failed is sent again before its file counts as Crashed
LOOK = 1.0  # seconds between looks at the workers' heartbeats and the queue
ORPHAN_WAIT = 600.0  # seconds a task no longer wanted is watched, so its result is deleted when it comes
RETRY = 2.0  # seconds before the broker is tried again after it failed


@dataclass(slots=True)
class _Job:
    serial: int
    number: int  # 0: open the file (and read page 1); else this page
    target: Path | SourceFile  # as this process knows it
    task_id: str = ""
    sent_at: float = 0.0
    deliveries: int = 0  # times sent for a worker that then died
    again: int = 0  # times sent again because a worker could not do it
    lost: int = 0  # times sent again because the broker lost or failed it
    holder: str | None = None  # the worker that began it (from its STARTED)


class CeleryPool(BookedPool):
    """Celery workers that read files; this process (the one writer) files what comes back.

    The same interface as pool.ReaderPool. How many files it lets in (``free()``) follows the
    workers alive, as the local pool follows its processes: two tasks out per worker process.
    """

    def __init__(self, settings: Settings, *, clock: Any = time.monotonic) -> None:
        """Raises ToolMissing without the celery extra, BrokerUnreachable if Redis does not answer."""
        assert settings.broker
        self.settings = settings
        self.what = f"Celery workers via {redact_url(settings.broker)}, queue {QUEUE!r}"
        self._clock = clock
        self.board = Board(settings.broker)
        self.board.ping()
        self.app = make_app(settings)
        self.backend = self.app.backend
        self._inbox = Path(os.path.abspath(settings.inbox))
        self._files = Readings(settings, 1)
        self._jobs: dict[str, _Job] = {}  # task id -> job out
        self._orphans: dict[str, float] = {}  # task id no longer wanted -> when to stop watching it
        self._workers: dict[str, dict[str, Any]] = {}
        self._depth = 0
        self._empty_since: float | None = None  # since when the queue was seen empty at every look
        self._next_look = 0.0
        self._down_until = 0.0
        self._down: str | None = None
        self._calm_until = 0.0  # heartbeats are not judged before then (the broker was away)
        # Where the mark (celery_app.KEPT_KEY) is kept: the broker, and the result backend if it is another Redis.
        self._kept = [self.board.client]
        if settings.result_backend and settings.result_backend != settings.broker:
            self._kept.append(self.backend.client)
        # This service alone sends to the queue: what waits there, or is wanted, is an earlier run's.
        with self._broker("clearing an earlier run's tasks"):
            with self.app.connection_for_write() as conn:
                purged = conn.default_channel.queue_purge(QUEUE) or 0
            self.board.clear()
            for client in self._kept:
                lost_data(client)
            if purged:
                log.info("dropped %d task(s) an earlier run left in the queue", purged)
        self._look()

    # -- the pool interface (busy, free, progress, submit: BookedPool) --------------------------------
    def state(self) -> dict[str, Any]:
        """As of the last look (every second): the tasks waiting in the queue, and the workers alive."""
        workers = [
            {"name": node, **{k: w.get(k) for k in ("host", "pid", "seen", "reading", "pages")}}
            for node, w in sorted(self._workers.items())
        ]
        return {"executor": "celery", "queue": {"depth": self._depth}, "workers": workers}

    def wait(self, timeout: float) -> list[tuple[int | None, Result]]:
        """Files whose reading ended: (task, result). Looks at the results about every ``timeout`` seconds."""
        deadline = self._clock() + timeout
        out: list[tuple[int | None, Result]] = []
        if self._clock() >= self._down_until and self._check_kept(out):
            self._poll(out)
            if self._clock() >= self._next_look:
                self._look(out)
            self._dispatch()
        self._files.log_progress()
        if not out:
            time.sleep(max(0.0, deadline - self._clock()))
        return out

    def close(self, *, kill: bool = False) -> None:
        """Give up every task out: a worker that has not begun one skips it; one being read is
        finished there and its result expires unread (RESULT_EXPIRES). The files stay in the inbox."""
        ids = [*self._jobs, *self._orphans]
        with contextlib.suppress(*Board.errors, KombuError):
            self.board.unwant(*ids)
            self._forget(ids)
        self._jobs.clear()
        self._orphans.clear()
        self._files.files.clear()
        with contextlib.suppress(Exception):
            self.app.close()
        self.board.close()

    # -- sending -----------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Send tasks while fewer than DEPTH per worker are out: files in the order given, pages in page order."""
        while self._clock() >= self._down_until and len(self._jobs) < DEPTH * self._files.size and self._files.has_job():
            job_at = self._files.next_job()
            assert job_at is not None
            job = _Job(*job_at)
            if not self._send(job):
                self._files.put_back(job.serial, job.number)
                return

    def _send(self, job: _Job) -> bool:
        reading = self._files.files[job.serial]
        rel = reading.path.relative_to(self._inbox)
        if isinstance(job.target, SourceFile):
            what: dict[str, Any] = {"number": job.number, "source": encode(replace(job.target, path=rel))}
        else:
            what = {"number": 0, "path": encode(rel)}
        task_id = str(uuid.uuid4())
        with self._broker("sending a task"):
            self.board.want(task_id, f"{reading.name} #{job.number}")
            self.app.send_task(TASK, args=[what], task_id=task_id, queue=QUEUE)
            if job.task_id:
                self._drop(job.task_id)
            job.task_id, job.sent_at, job.holder = task_id, self._clock(), None
            self._jobs[task_id] = job
            return True
        with contextlib.suppress(*Board.errors):
            self.board.unwant(task_id)
        return False

    def _drop(self, task_id: str) -> None:
        """No longer want a task: a worker that takes it skips it; a result that comes anyway is deleted."""
        self._jobs.pop(task_id, None)
        self._orphans[task_id] = self._clock() + ORPHAN_WAIT
        self.board.unwant(task_id)

    # -- what comes back ----------------------------------------------------------------------------
    def _check_kept(self, out: list[tuple[int | None, Result]]) -> bool:
        """Whether the broker answers. If Redis lost its data since the last tick, every task out went
        with it (waiting, or its result or STARTED): each is sent again, as the broker's loss."""
        lost: list[bool] = []
        with self._broker("looking whether it kept its data"):
            lost = [lost_data(client) for client in self._kept]  # a list: each mark set again
        if not lost:
            return False
        if any(lost) and self._jobs:
            log.warning(
                "the broker lost its data (Redis started again empty, or flushed): the %d task(s) out are sent again",
                len(self._jobs),
            )
            self._calm()
            for job in list(self._jobs.values()):
                if job.task_id in self._jobs:
                    self._broker_lost(job, "the broker lost it with its data", out)
        elif any(lost):
            self._calm()
        return True

    def _poll(self, out: list[tuple[int | None, Result]]) -> None:
        """Read the state of every task out in one MGET; take what is done."""
        ids = [*self._jobs, *self._orphans]
        if not ids:
            return
        with self._broker("reading results"):
            raws = self.backend.client.mget([self.backend.get_key_for_task(t) for t in ids])
            done: list[str] = []
            now = self._clock()
            for task_id, raw in zip(ids, raws):
                # decode, not decode_result: a failure's exception is not rebuilt (no class named
                # by the result is imported); _failure reads its name and message.
                meta = self.backend.decode(raw) if raw is not None else None
                status = meta["status"] if meta else states.PENDING
                if task_id in self._orphans:
                    if status in states.READY_STATES or now >= self._orphans[task_id]:
                        done.append(task_id)
                        del self._orphans[task_id]
                    continue
                job = self._jobs.get(task_id)
                if job is None:
                    continue  # its file ended while this loop went on
                if status == states.STARTED and isinstance(meta and meta.get("result"), dict):
                    job.holder = str(meta["result"].get("hostname") or "") or None  # type: ignore[index]
                elif status == states.SUCCESS:
                    done.append(task_id)
                    del self._jobs[task_id]
                    self._took(job, meta["result"], out)  # type: ignore[index]
                elif status in states.READY_STATES:  # FAILURE, REVOKED: not something our task does
                    done.append(task_id)
                    del self._jobs[task_id]
                    failure = meta.get("result") if meta else None
                    why = _failure(failure, status)
                    if _broker_failed(failure):  # it could not store what it read: Redis was away
                        job.task_id = ""  # done with: nothing to drop
                        self._broker_lost(job, f"the worker {job.holder or '?'} could not store it ({why})", out)
                    else:
                        self._end(job, Crashed(f"the worker {job.holder or '?'} failed{_where(job)}: {why}"), out)
            self._forget(done)

    def _forget(self, ids: list[str]) -> None:
        """Tasks done with: their results deleted, and no longer wanted (a late copy is skipped)."""
        if ids:
            self.backend.client.delete(*[self.backend.get_key_for_task(t) for t in ids])
            self.board.unwant(*ids)

    def _took(self, job: _Job, data: Any, out: list[tuple[int | None, Result]]) -> None:
        reading = self._files.files.get(job.serial)
        if reading is None:
            return
        if not isinstance(data, dict) or "again" in data:
            why = data.get("again") if isinstance(data, dict) else "it no longer wanted it"
            self._again(job, str(why), out)
            return
        reader = str(data.get("reader") or job.holder or "?")
        try:
            results = [(int(n), decode(payload)) for n, payload in data["results"]]
        except (KeyError, TypeError, ValueError, WireError) as exc:
            self._end(job, Crashed(f"what {reader} sent back{_where(job)} cannot be read: {exc}"), out)
            return
        for number, payload in results:
            if isinstance(payload, Broken):  # a worker sends "again" instead; never stop the service for one
                self._again(job, payload.error.message, out)
                return
            if number == 0 and isinstance(payload, SourceFile):
                payload = replace(payload, path=reading.path)  # the worker's path is inbox-relative
                if reading.sha256 is not None and payload.sha256 != reading.sha256:
                    why = (
                        f"the worker {reader} read other contents of {reading.name} than this service did "
                        f"(sha256 {payload.sha256[:12]}…, here {reading.sha256[:12]}…): is its inbox the same share?"
                    )
                    self._end(job, Crashed(why), out)
                    return
            ended = self._files.took(job.serial, number, payload, reader)
            if ended is not None:
                out.append(ended)
                self._abandon(job.serial)
                return

    def _again(self, job: _Job, why: str, out: list[tuple[int | None, Result]]) -> None:
        """A worker could not do a task (it was stopping, or cannot read at all): another one will."""
        job.again += 1
        if job.again > AGAIN:
            self._end(job, Crashed(f"no worker could read it{_where(job)}: {why}"), out)
            return
        log.warning("%s%s: %s; sent again", self._name(job), _where(job), why)
        job.task_id = ""  # taken already: nothing to drop
        self._resend(job)

    def _broker_lost(self, job: _Job, why: str, out: list[tuple[int | None, Result]]) -> None:
        """The broker lost a task or failed it: sent again, not counted against the page (LOSSES bounds it)."""
        job.lost += 1
        if job.lost > LOSSES:
            log.warning("%s%s: %s; no more tries (%d times)", self._name(job), _where(job), why, job.lost)
            why = f"the broker lost or failed the reading{_where(job)} {job.lost} times ({why}): is Redis well?"
            self._end(job, Crashed(why), out)
            return
        log.warning("%s%s: %s; sent again", self._name(job), _where(job), why)
        self._resend(job)

    def _calm(self) -> None:
        """The broker was away: for ``worker_timeout``, a missing heartbeat or an empty queue says nothing."""
        self._calm_until = self._clock() + self.settings.worker_timeout
        self._empty_since = None

    def _resend(self, job: _Job) -> None:
        if not self._send(job):
            # The broker is down: the page goes out again once it is back (a new task; the old
            # one, if any, is watched for a late result).
            if job.task_id and self._jobs.pop(job.task_id, None) is not None:
                self._orphans[job.task_id] = self._clock() + ORPHAN_WAIT
            self._files.put_back(job.serial, job.number)

    def _end(self, job: _Job, result: Result, out: list[tuple[int | None, Result]]) -> None:
        ended = self._files.end(job.serial, result)
        if ended is not None:
            out.append(ended)
        self._abandon(job.serial)

    def _abandon(self, serial: int) -> None:
        """A file ended: its tasks still out are no longer wanted."""
        for task_id in [t for t, j in self._jobs.items() if j.serial == serial]:
            self._drop(task_id)

    # -- workers that die ---------------------------------------------------------------------------
    def _look(self, out: list[tuple[int | None, Result]] | None = None) -> None:
        """Which workers live and how long the queue is; a task whose worker is gone is sent again."""
        now = self._clock()
        self._next_look = now + LOOK
        with self._broker("looking at the workers"):
            self._workers = self.board.workers()
            self._depth = self.board.depth()
            self._files.size = max(1, len(self._workers))
            if self._depth:
                self._empty_since = None
            elif self._empty_since is None:
                self._empty_since = now
            timeout = self.settings.worker_timeout
            if now < self._calm_until:
                return  # the broker was away: the workers have not had time to beat again
            for job in list(self._jobs.values()):
                if job.holder is not None and job.holder not in self._workers:
                    why = f"the worker {job.holder} reading it is gone"
                elif (
                    job.holder is None
                    and self._empty_since is not None
                    and job.sent_at < self._empty_since
                    and now - self._empty_since >= timeout
                ):
                    why = f"it was taken from the queue but not begun within {timeout:g} s"
                else:
                    continue
                self._lost(job, why, out if out is not None else [])

    def _lost(self, job: _Job, why: str, out: list[tuple[int | None, Result]]) -> None:
        job.deliveries += 1
        if job.deliveries >= DELIVERIES:
            log.warning("%s%s: %s; no more tries (%d of %d)", self._name(job), _where(job), why, job.deliveries, DELIVERIES)
            self._drop(job.task_id)
            self._end(job, Crashed(f"the reading process died{_where(job)}, {job.deliveries} times ({why})"), out)
            return
        log.warning(
            "%s%s: %s; sent to another worker (try %d of %d)", self._name(job), _where(job), why, job.deliveries + 1, DELIVERIES
        )
        self._resend(job)

    def _name(self, job: _Job) -> str:
        reading = self._files.files.get(job.serial)
        return reading.name if reading is not None else "?"

    @contextlib.contextmanager
    def _broker(self, doing: str) -> Any:
        """Run broker calls; if the broker fails, log it once while it lasts and pause them for RETRY seconds."""
        try:
            yield
        except (*Board.errors, KombuError) as exc:
            message = f"the broker {redact_url(self.settings.broker or '')} failed while {doing}: {one_line(exc)}"
            if message != self._down:
                log.error("%s; reading waits for it (the files stay in the inbox)", message)
            self._down = message
            self._down_until = self._clock() + RETRY
        else:
            if self._down is not None:
                log.warning("the broker answers again")
                self._down = None
                self._calm()


def _failure(result: Any, status: str) -> str:
    """A failed task's exception, as Celery stores it in JSON: "Type: message"."""
    if isinstance(result, dict) and result.get("exc_type"):
        message = result.get("exc_message")
        if isinstance(message, (list, tuple)):
            message = " ".join(str(m) for m in message)
        return f"{result['exc_type']}: {message}"
    return status


# A failure with one of these is the broker's or the network's (the worker could not store what it
# read), not the reader's: the reader's own errors come back as results (reading.do_job).
BROKER_ERRORS = (redis.ConnectionError, redis.TimeoutError, OperationalError, ConnectionError, TimeoutError)


def _broker_failed(result: Any) -> bool:
    """Whether a failed task's exception, as Celery stores it in JSON, is a broker or network error.

    Its class is looked up by module and name among the modules already imported (never imported
    for it): an unknown class is not the broker's.
    """
    if not isinstance(result, dict):
        return False
    module = sys.modules.get(str(result.get("exc_module") or ""))
    cls = getattr(module, str(result.get("exc_type") or ""), None) if module is not None else None
    return isinstance(cls, type) and issubclass(cls, BROKER_ERRORS)


def _where(job: _Job) -> str:
    return f" on page {job.number}" if job.number else ""
