"""`signoff watch`: the loop that takes whole files from the inbox, has them read, and files what comes back."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any

from filelock import FileLock, Timeout

from pipeline.errors import ArchiveUnwritable, BadInput, ConfigError, ReasonCode, Unreadable
from pipeline.ingest import sha256_file
from pipeline.service.journal import STATE_FOLDER, Entry, Journal, journal_path, printable
from pipeline.service.reading import Broken, Failed, Read, ReaderFactory, Result, make_pool, pipeline_reader
from pipeline.service.watcher import InboxRules, InboxWatcher, SettleTracker, looks_complete
from pipeline.service.writer import Outcome, Writer
from pipeline.settings import Settings

__all__ = ["RETRY_WHILE_YOUNG", "Summary", "WatchService"]

log = logging.getLogger(__name__)

# Reasons a file that is still young may only be half written: wait and read it again.
RETRY_WHILE_YOUNG = frozenset(
    {
        ReasonCode.ZERO_BYTES,
        ReasonCode.CORRUPT_PDF,
        ReasonCode.NO_PAGES,
        ReasonCode.CORRUPT_IMAGE,
        ReasonCode.RASTERISE_FAILED,
    }
)
TICK = 0.25  # seconds the loop waits for readers before it looks at the inbox again
HEARTBEAT = 10.0  # seconds between "still running" marks in the journal (`signoff status`)
BACKOFF = (5.0, 300.0)  # first and longest pause after the archive could not be written
CRASHES_BEFORE_QUARANTINE = 2


class _NoOcr:
    """The OCR engine of a service whose reading is done by Celery workers: it never reads here."""

    languages: tuple[str, ...] = ()

    def osd(self, image: Any, dpi: int) -> Any:
        raise AssertionError("the celery executor reads on its workers")

    def __call__(self, image: Any, languages: Any = None) -> Any:
        raise AssertionError("the celery executor reads on its workers")


NO_OCR = _NoOcr()


@dataclass(slots=True)
class Summary:
    """What a run did (`watch --once` exits 1 when something was quarantined)."""

    filed: int = 0
    sheets: int = 0
    duplicates: int = 0
    quarantined: int = 0
    outcomes: list[Outcome] = field(default_factory=list)


@dataclass(slots=True)
class _Taken:
    entry: Entry
    path: Path
    st: os.stat_result


class WatchService:
    """One drop-folder service on one inbox and archive (a second one on the same archive refuses)."""

    def __init__(
        self,
        settings: Settings,
        *,
        once: bool = False,
        workers: int | None = None,
        reader: ReaderFactory = pipeline_reader,
        engine: Any = None,
        on_outcome: Callable[[Outcome], None] | None = None,
        log_level: int = logging.WARNING,
        log_json: bool = False,
    ) -> None:
        """Args:
        settings: inbox, archive and the watch settings (poll, settle, workers, ...).
        once: take what is in the inbox now, file it, and return (cron).
        workers: reading processes (default: settings.workers, else one per core); the local executor's.
        reader: builds the function the local workers read with (tests pass a stand-in).
        engine: the OCR engine the writer's Pipeline checks at start (tests pass a stand-in).
        on_outcome: called with each file's outcome (the CLI prints `--json` rows with it).
        log_level, log_json: how the workers log.
        """
        self.settings = settings
        self.once = once
        self.size = workers or settings.workers or os.cpu_count() or 1
        # With --once a file is judged as it is (after the settle delay): there is no later look.
        self.young = 0.0 if once else settings.incomplete_timeout
        self._reader = reader
        self._engine = engine
        self._on_outcome = on_outcome
        self._log = (log_level, log_json)
        self._stop = False
        self._taken: dict[int, _Taken] = {}
        self._busy_sha: set[str] = set()
        self._crashes: dict[str, int] = {}
        self._paused_until = 0.0
        self._backoff = 0.0
        self._last_error: str | None = None
        self.summary = Summary()

    def request_stop(self, *_: Any) -> None:
        """Stop after the file being filed now (safe to call from a signal handler)."""
        self._stop = True

    # -- the run --------------------------------------------------------------------------------
    def run(self) -> Summary:
        """Run until stopped (or, with once, until the inbox as it was at start is dealt with).

        Raises:
            ConfigError: the inbox is missing, or the archive is inside the inbox's own path rules.
            ArchiveUnwritable: the archive cannot be written (with once, also while filing), or
                another `signoff watch` works on this archive.
            ToolMissing: tesseract, a language pack or poppler is missing.
        """
        s = self.settings
        inbox = Path(os.path.abspath(s.inbox))
        if not inbox.is_dir():
            raise ConfigError(f"the inbox {inbox} does not exist (or is not a folder)")
        if inbox == Path(os.path.abspath(s.archive)):
            raise ConfigError("the inbox and the archive must be different folders")
        try:
            s.archive.mkdir(parents=True, exist_ok=True)
            (s.archive / STATE_FOLDER).mkdir(exist_ok=True)
        except OSError as exc:
            raise ArchiveUnwritable(f"cannot write to the archive {s.archive}: {exc}", stage="watch") from None
        lock = FileLock(str(s.archive / STATE_FOLDER / "watch.lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise ArchiveUnwritable(
                f"another `signoff watch` is already working on {s.archive}; stop it first", stage="watch"
            ) from None
        try:
            self._run(inbox)
        finally:
            lock.release()
        return self.summary

    def _run(self, inbox: Path) -> None:
        from pipeline.run import BATCH_SECONDS, BATCH_SHEETS, Pipeline

        s = self.settings
        # The local pool starts its processes when there is work; the celery one checks the broker.
        self.pool = make_pool(s, self.size, factory=self._reader, log_level=self._log[0], log_json=self._log[1])
        try:
            # Checks tesseract before any file moves, where this process's pool reads.
            pipe = Pipeline(s, engine=self._engine if self._engine is not None or s.executor == "local" else NO_OCR)
            self.journal = journal = Journal.open(journal_path(s.archive))
        except BaseException:
            self.pool.close(kill=True)
            raise
        old_handlers = self._install_signals()
        self.watcher: InboxWatcher | None = None
        self.inbox = inbox
        try:
            journal.begin_run("once" if self.once else "watch")
            self.writer = Writer(
                s, journal, pipe.index, pipe.close, batch_sheets=BATCH_SHEETS, batch_seconds=BATCH_SECONDS
            )
            stats = self.writer.recover()
            if any(stats.values()):
                log.info("recovered from an interrupted run: %s", ", ".join(f"{k} {v}" for k, v in stats.items() if v))
            self.rules = InboxRules(inbox, own=[s.archive])
            self.tracker = SettleTracker(s.settle)
            if not self.once:
                self.watcher = InboxWatcher(inbox, s.poll)
                self.watcher.start()  # before the first look, so nothing arriving in between is missed
            for path, st in sorted(self.rules.walk(), key=lambda item: (item[1].st_mtime_ns, item[0])):
                self.tracker.seen(path, st)
            if self.once:
                log.info("%d file(s) in %s", len(self.tracker), inbox)
            else:
                mode = f"polling every {s.poll:g}s" if s.poll > 0 else "file events"
                log.info("watching %s (%s, %s); Ctrl-C or SIGTERM stops", inbox, mode, self.pool.what)
            self._loop()
            # Stopping (SIGTERM, or --once is done): what was filed becomes searchable and leaves the
            # inbox now. After an error it is left to recover() at the next start.
            self._commit()
        finally:
            self.pool.close(kill=True)  # readers only read: what they held stays in the inbox
            try:
                for taken in self._taken.values():
                    journal.release(taken.entry.id)
            except ArchiveUnwritable as exc:
                log.error("%s; the next start rolls those files back instead", exc.message)
            self._taken.clear()
            if self.watcher is not None:
                self.watcher.stop()
            pipe.close()
            try:
                journal.end_run()
            finally:
                journal.close()
                self._restore_signals(old_handlers)

    def _install_signals(self) -> dict[int, Any]:
        old: dict[int, Any] = {}
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, self._on_signal)
        except ValueError:  # not the main thread (tests): request_stop() is the way
            pass
        return old

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop = True

    @staticmethod
    def _restore_signals(old: dict[int, Any]) -> None:
        for sig, handler in old.items():
            signal.signal(sig, handler)

    def _loop(self) -> None:
        s, tracker, watcher = self.settings, self.tracker, self.watcher
        clock = time.monotonic
        next_rescan = clock() + s.rescan_interval
        next_beat = clock() + HEARTBEAT
        while not self._stop:
            if watcher is not None:
                for kind, path in watcher.drain():
                    self._event(kind, path)
                if clock() >= next_rescan:
                    for path, st in self.rules.walk():
                        tracker.seen(path, st)
                    next_rescan = clock() + s.rescan_interval
                    if not watcher.alive() and self.inbox.is_dir():
                        log.warning("the inbox observer stopped; starting it again")
                        watcher.stop()
                        watcher.start()
            if clock() >= self._paused_until:
                for path, st in tracker.ready(self.pool.free()):
                    self._take(path, st)
                    if self._stop:
                        break
                # When due (BATCH_SHEETS or BATCH_SECONDS), or at once when nothing is being read and
                # nothing was ready to take: a lone scan need not wait BATCH_SECONDS to be searchable.
                if self.writer.due() or not self._taken:
                    self._commit()
            for task, result in self.pool.wait(TICK):
                self._result(task, result)
            if clock() >= next_beat:
                try:
                    self.journal.heartbeat(self.pool.progress(), pool=self.pool.state())
                except ArchiveUnwritable as exc:
                    log.debug("no heartbeat: %s", exc.message)
                next_beat = clock() + HEARTBEAT
            if self.once and not len(tracker) and not self._taken:
                break

    def _event(self, kind: str, path: Path) -> None:
        if kind == "gone":
            self.tracker.forget(path)
        elif kind == "dir":
            if not self.rules.ignored(path, is_dir=True):  # a folder moved in whole: no event per file
                for sub, st in self.rules.walk(path):
                    self.tracker.seen(sub, st)
        elif not self.rules.ignored(path):
            self.tracker.event(path)

    # -- taking a file ------------------------------------------------------------------------------
    def _take(self, path: Path, st: os.stat_result) -> None:
        s, journal, writer, tracker = self.settings, self.journal, self.writer, self.tracker
        rel = path.relative_to(self.inbox)
        if stat.S_ISLNK(st.st_mode):
            entry = journal.take(rel, None, st.st_size, st.st_mtime_ns)
            error = BadInput(
                f"{printable(rel)} is a symbolic link; links are not followed out of the inbox: put the file itself there",
                reason=ReasonCode.SYMLINK,
                stage="watch",
            )
            self._finish(self._guard(lambda: writer.quarantine(entry, path, error, None), entry, path), path)
            return
        age = time.time() - st.st_mtime
        if age < self.young and not looks_complete(path):
            self._wait_for_rest(path, rel, age, "it does not look complete yet")
            return
        try:
            sha = sha256_file(path)
            now_st = os.lstat(path)
        except FileNotFoundError:
            tracker.done(path)
            return
        except OSError as exc:
            self._note_error(printable(rel), f"cannot read {printable(rel)}: {exc.strerror}; it is tried again later")
            self._later(path, 60.0)
            return
        if (now_st.st_size, now_st.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
            tracker.release(path)  # written to while hashed: wait until it settles again
            return
        if sha in self._busy_sha or self.writer.holds(sha):
            tracker.release(path, after=s.settle)  # the same content is being filed right now
            return
        try:
            entry = journal.take(rel, sha, st.st_size, st.st_mtime_ns)
            of = None if entry.resumed else journal.filed_pdf(sha)
        except ArchiveUnwritable as exc:  # the journal is in the archive: a full disk stops it too
            if self.once:
                raise
            self._unwritable(exc, printable(rel), path)
            return
        if of is not None and (s.archive / of).is_file():
            self._finish(self._guard(lambda: writer.duplicate(entry, path, sha, of), entry, path), path)
            return
        self._taken[entry.id] = _Taken(entry, path, st)
        self._busy_sha.add(sha)
        self.pool.submit(entry.id, path, sha)

    def _later(self, path: Path, after: float) -> None:
        """Try a file that stays in the inbox again after a while (with --once: on the next run)."""
        if self.once:
            self.tracker.done(path)
        else:
            self.tracker.release(path, after=after)

    def _wait_for_rest(self, path: Path, rel: Path, age: float, why: str) -> None:
        if self.once:
            log.info("left %s in the inbox for the next run: %s", printable(rel), why)
            self.tracker.done(path)
        else:
            log.debug("waiting for %s: %s", printable(rel), why)
            self.tracker.release(path, after=max(0.5, self.young - age))

    # -- what the readers send back --------------------------------------------------------------------
    def _result(self, task: int | None, result: Result) -> None:
        if isinstance(result, Broken):
            raise result.error
        taken = self._taken.pop(task, None) if task is not None else None
        if taken is None:
            return
        entry, path, writer, journal = taken.entry, taken.path, self.writer, self.journal
        if entry.sha256:
            self._busy_sha.discard(entry.sha256)
        if self._stop and not isinstance(result, Read):
            # Stopping: a failure now may be our own doing (a killed tesseract); leave the file be.
            journal.release(entry.id)
            self.tracker.release(path)
            return
        if isinstance(result, Read):
            read = result
            # None once it waits in the batch: _commit reports it when its original has gone.
            outcome = self._guard(lambda: writer.file(entry, path, read), entry, path)
        elif isinstance(result, Failed):
            err = result.error
            age = time.time() - taken.st.st_mtime
            if err.reason in RETRY_WHILE_YOUNG and age < self.young:
                journal.release(entry.id)
                self._wait_for_rest(path, entry.rel, age, f"{err.reason}: it may still be being written")
                return
            outcome = self._guard(lambda: writer.quarantine(entry, path, err, entry.sha256), entry, path)
        else:
            key = entry.sha256 or str(path)
            self._crashes[key] = self._crashes.get(key, 0) + 1
            if self._crashes[key] < CRASHES_BEFORE_QUARANTINE:
                log.warning("%s: %s; reading it once more", entry.name, result.message)
                journal.release(entry.id)
                self.tracker.release(path)
                return
            self._crashes.pop(key, None)
            bad = Unreadable(f"{entry.name}: {result.message}", reason=ReasonCode.READER_FAILED, stage="read")
            outcome = self._guard(lambda: writer.quarantine(entry, path, bad, entry.sha256), entry, path)
        self._finish(outcome, path)

    def _commit(self) -> None:
        """Commit the batch to the index; only then do its originals leave the inbox and get reported.

        If the index will not take it, the batch waits and taking files pauses; its sheets are
        filed and in the journal, so even a crash meanwhile loses nothing (recover()). With --once
        the error is raised: the next run's recover() indexes the batch.
        """
        writer = self.writer
        if not writer.pending:
            return
        try:
            done = writer.commit()
        except ArchiveUnwritable as exc:
            if self.once:
                raise
            self._pause()
            self._note_error(None, f"{exc.message}; the files filed since the last commit wait in the inbox for it")
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the watcher; see _guard
            if self.once:
                raise
            log.exception(
                "cannot index %d filed file(s); they wait in the inbox, tried again in %.0f s", writer.pending, BACKOFF[1]
            )
            self._paused_until = time.monotonic() + BACKOFF[1]
            with contextlib.suppress(ArchiveUnwritable):
                self.journal.error(None, f"{type(exc).__name__}: {exc}")
            return
        self._works_again()
        for pending in done:
            path = pending.outcome.source
            self._finish(self._guard(partial(writer.let_go, pending), pending.entry, path), path)

    def _guard(self, step: Callable[[], Outcome | None], entry: Entry, path: Path) -> Outcome | None:
        """Run a writing step; if the archive cannot be written, leave the file in the inbox, retry later."""
        try:
            outcome = step()
        except ArchiveUnwritable as exc:
            if self.once:
                raise
            try:
                self.journal.release(entry.id)
            except ArchiveUnwritable:
                pass  # the journal lives in the archive too: the next start rolls it back
            self._unwritable(exc, entry.name, path)
            return None
        except Exception as exc:  # noqa: BLE001 - see below
            # A bug in filing must neither stop the watcher (systemd would restart it into the same
            # file, forever) nor lose the scan: it stays in the inbox, logged with its traceback and
            # shown by `signoff status`, and is tried again later.
            log.exception("cannot file %s; it stays in the inbox and is tried again in %.0f s", entry.name, BACKOFF[1])
            try:
                self.journal.error(entry.name, f"{type(exc).__name__}: {exc}")
                self.journal.release(entry.id)
            except ArchiveUnwritable:
                pass
            self._later(path, BACKOFF[1])
            return None
        self._works_again()
        return outcome

    def _works_again(self) -> None:
        """A write worked: an error being logged is over, and the next pause starts short again."""
        if self._last_error is not None:
            log.warning("writing to the archive works again")
            self._last_error = None
        self._backoff = 0.0

    def _unwritable(self, exc: ArchiveUnwritable, name: str, path: Path) -> None:
        """The archive cannot be written: pause taking files (longer each time), keep this one for later."""
        self._pause()
        self._note_error(name, f"{exc.message}; the file stays in the inbox and is tried again")
        self._later(path, self._backoff)

    def _pause(self) -> None:
        """Take no files (and commit nothing) for a while, longer each time the archive fails in a row."""
        self._backoff = min(BACKOFF[1], self._backoff * 2) if self._backoff else BACKOFF[0]
        self._paused_until = time.monotonic() + self._backoff

    def _note_error(self, name: str | None, message: str) -> None:
        """Log an error once while it lasts: the same failure file after file is one line, not thousands."""
        if message != self._last_error:
            log.error("%s", printable(message))
        else:
            log.debug("%s", printable(message))
        self._last_error = message
        try:
            self.journal.error(name, message)
        except ArchiveUnwritable:
            pass  # the journal lives in the archive too

    def _finish(self, outcome: Outcome | None, path: Path) -> None:
        if outcome is None:
            return
        if outcome.event == "changed":
            self.tracker.release(path)
            return
        self.tracker.done(path)
        if outcome.event == "gone":
            log.info("%s disappeared from the inbox before it was filed", outcome.name)
            return
        _log_outcome(outcome, self.writer.rel)
        sm = self.summary
        if outcome.event == "filed":
            sm.filed += 1
            sm.sheets += len(outcome.filed)
        elif outcome.event == "duplicate":
            sm.duplicates += 1
        elif outcome.event == "quarantined":
            sm.quarantined += 1
        if self.once:
            sm.outcomes.append(outcome)
        if self._on_outcome is not None:
            self._on_outcome(outcome)


def _log_outcome(o: Outcome, rel: Callable[[Path], str]) -> None:
    """One line per file: what became of it, tagged with its hash's first 8 characters."""
    tag = (o.sha256 or "no-hash")[:8]
    fields: dict[str, Any] = {"event": o.event, "source": o.name, "sha256": o.sha256}
    if o.event == "filed":
        sheets = [(rel(f.pdf), f.outcome) for f in o.filed]
        kinds = sorted({k for _, k in sheets} - {"filed"})
        note = f" ({', '.join(kinds)})" if kinds else ""
        fields["sheets"] = [{"path": p, "outcome": k} for p, k in sheets]
        where = ", ".join(p for p, _ in sheets)
        log.info("filed %s [%s]: %d sheet(s)%s -> %s", o.name, tag, len(sheets), note, where, extra={"signoff": fields})
    elif o.event == "duplicate" and o.target is not None:
        fields.update(of=o.of, path=rel(o.target))
        log.info("duplicate %s [%s] of %s: set aside as %s", o.name, tag, o.of, rel(o.target), extra={"signoff": fields})
    elif o.event == "quarantined" and o.error is not None and o.target is not None:
        fields.update(reason=str(o.error.reason), message=o.error.message, path=rel(o.target))
        log.warning(
            "quarantined %s [%s]: %s [%s]", o.name, tag, printable(o.error.message), o.error.reason, extra={"signoff": fields}
        )
