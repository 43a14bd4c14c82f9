"""The one writer: files what the readers found, indexes it, then lets the original go; and recovers after a crash.

Order for each file, each step recorded in the journal before the next:
    sheets written (temp name, flush, rename; one by one) → the file joins the batch →
    one index commit for the whole batch → the file's original removed.
A crash between any two steps leaves the original in the inbox; recover() finishes or resumes it.
The batch is committed when the loop says (commit, then let_go for each file): with one sheet per
file, a commit per file would be most of the index's work at a million sheets.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import Timeout

from pipeline.errors import ArchiveUnwritable, DocumentError, PipelineError
from pipeline.filing import (
    DUPLICATES_FOLDER,
    FiledDoc,
    archive_lock,
    file_document,
    leftover_temp_files,
    plan_destination,
    quarantine,
    remove_original,
    set_aside_duplicate,
)
from pipeline.ingest import sha256_file
from pipeline.service.journal import STATE_FOLDER, Entry, Journal, printable
from pipeline.service.reading import Read
from pipeline.settings import Settings

__all__ = ["Outcome", "Pending", "Writer"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now().astimezone()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one file taken from the inbox (one log line, one or more `--json` rows)."""

    event: str  # filed | duplicate | quarantined | gone | changed
    source: Path  # where it was in the inbox
    name: str  # inbox-relative, printable
    sha256: str | None = None
    filed: tuple[FiledDoc, ...] = ()
    target: Path | None = None  # the quarantined or set-aside file
    of: str | None = None  # a duplicate: the archive-relative PDF it repeats
    error: DocumentError | None = None


@dataclass(frozen=True, slots=True)
class Pending:
    """A file whose sheets are filed and in the journal, waiting for its batch's index commit."""

    entry: Entry
    outcome: Outcome  # "filed": reported once the commit is made and the original has gone


@dataclass(slots=True)
class _Batch:
    """Files filed since the last index commit."""

    files: list[Pending] = field(default_factory=list)
    sheets: int = 0
    started: float = 0.0  # the writer's clock when its first file joined


class Writer:
    """Moves files into the archive and writes the index; there is exactly one, in the service process."""

    def __init__(
        self,
        settings: Settings,
        journal: Journal,
        index: Callable[[], Any],
        close_index: Callable[[], None] = lambda: None,
        now: Callable[[], datetime] = _now,
        *,
        batch_sheets: int,
        batch_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args:
        settings: inbox and archive.
        journal: the journal, open for writing.
        index: returns the open IndexStore (opened on first use).
        close_index: releases it between commits, so `signoff reindex` can swap it meanwhile.
        now: the time sheets are filed at (tests).
        batch_sheets, batch_seconds: a batch is due at this many sheets, or once its oldest file
            waited this long (the service passes `signoff process`'s pipeline.run.BATCH_*).
        clock: measures how long the batch waited (tests).
        """
        self.settings = settings
        self.archive = settings.archive
        self.journal = journal
        self._index = index
        self._close_index = close_index
        self._now = now
        self._batch_sheets = batch_sheets
        self._batch_seconds = batch_seconds
        self._clock = clock
        self._batch = _Batch()

    def rel(self, path: Path) -> str:
        return path.relative_to(self.archive).as_posix()

    def _index_add(self, sidecars: list[Mapping[str, Any]]) -> None:
        usable = [s for s in sidecars if isinstance(s.get("file"), Mapping)]
        if not usable:
            return
        try:
            self._index().add(usable)
        finally:
            self._close_index()

    # -- one file ------------------------------------------------------------------------------
    def file(self, entry: Entry, path: Path, read: Read) -> Outcome | None:
        """File every sheet of a file that was read; the file then waits in the batch for the index.

        Its original stays in the inbox until the batch is committed (commit, then let_go).

        Returns:
            None once it joined the batch; else what became of it instead (gone, changed, or a
            duplicate of sheets filed before the journal knew of them).

        Raises:
            ArchiveUnwritable: the archive or index cannot be written; the original stays in the
                inbox and the journal remembers what was filed, so a retry resumes.
        """
        now = self._now()
        try:
            current = sha256_file(path)
        except FileNotFoundError:
            self.journal.finish(entry.id, "gone")
            return Outcome("gone", path, entry.name, read.sha256)
        if current != read.sha256:
            # Replaced while it was read: filing copies pages from it, so read it again.
            self.journal.release(entry.id)
            return Outcome("changed", path, entry.name, read.sha256)
        planned = []
        for doc in read.docs:
            dest = plan_destination(self.archive, doc, now)
            planned.append((self.rel(dest.parent), dest.stem))
        self.journal.filing(entry.id, len(read.docs), planned)
        filed: list[FiledDoc] = []
        for doc in read.docs:
            f = file_document(doc, self.archive, read.kind, now)
            self.journal.sheet(entry.id, self.rel(f.pdf), f.outcome)
            filed.append(f)
        if not entry.resumed and all(f.outcome == "duplicate" for f in filed):
            # These pages of this file are filed already (before the journal knew of them).
            self._index_add([f.sidecar for f in filed])
            return self.duplicate(entry, path, read.sha256, self.rel(filed[0].pdf), filed=tuple(filed))
        self._join(Pending(entry, Outcome("filed", path, entry.name, read.sha256, tuple(filed))))
        return None

    # -- the batch ----------------------------------------------------------------------------------
    def _join(self, pending: Pending) -> None:
        if not self._batch.files:
            self._batch.started = self._clock()
        self._batch.files.append(pending)
        self._batch.sheets += len(pending.outcome.filed)

    @property
    def pending(self) -> int:
        """Files filed and waiting for the batch's commit (their originals are still in the inbox)."""
        return len(self._batch.files)

    def holds(self, sha256: str) -> bool:
        """Whether a file with this content waits in the batch: a copy must wait to be seen as a duplicate."""
        return any(p.entry.sha256 == sha256 for p in self._batch.files)

    def due(self) -> bool:
        """Whether the batch is to be committed even while more files are coming: big or old enough."""
        batch = self._batch
        return bool(batch.files) and (
            batch.sheets >= self._batch_sheets or self._clock() - batch.started >= self._batch_seconds
        )

    def commit(self) -> list[Pending]:
        """Index every sheet of the batch in one commit; its files' originals may go now (let_go).

        Raises:
            ArchiveUnwritable: the index cannot be written. The batch stays for the next commit;
                its sheets are filed and in the journal, so a crash meanwhile loses nothing.
        """
        self._index_add([f.sidecar for p in self._batch.files for f in p.outcome.filed])
        done, self._batch = self._batch.files, _Batch()
        return done

    def let_go(self, pending: Pending) -> Outcome:
        """After the commit: the file is indexed, its original leaves the inbox, and it is filed."""
        self.journal.indexed(pending.entry.id)
        remove_original(pending.outcome.source)
        self.journal.finish(pending.entry.id, "filed")
        return pending.outcome

    def duplicate(
        self, entry: Entry, path: Path, sha256: str, of: str, *, filed: tuple[FiledDoc, ...] = ()
    ) -> Outcome:
        """Set a file that is filed already aside in `_duplicates/DAY/`, so it is not tried again."""
        try:
            target = set_aside_duplicate(path, self.archive / DUPLICATES_FOLDER, sha256, of, self._now())
        except FileNotFoundError:
            self.journal.finish(entry.id, "gone")
            return Outcome("gone", path, entry.name, sha256)
        except OSError as exc:
            raise ArchiveUnwritable(f"cannot set {entry.name} aside in the archive: {exc}", stage="watch") from None
        self.journal.finish(entry.id, "duplicate", detail=of)
        return Outcome("duplicate", path, entry.name, sha256, filed, target=target, of=of)

    def quarantine(self, entry: Entry, path: Path, error: DocumentError, sha256: str | None) -> Outcome:
        """Move a bad file to `_quarantine/DAY/` with its reason beside it."""
        if not os.path.lexists(path):
            self.journal.finish(entry.id, "gone")
            return Outcome("gone", path, entry.name, sha256)
        try:
            target = quarantine(path, error, self.settings.quarantine, sha256, self._now())
        except PipelineError:
            raise
        except OSError as exc:
            raise ArchiveUnwritable(f"cannot quarantine {entry.name}: {exc}", stage="watch") from None
        self.journal.finish(
            entry.id, "quarantined", reason=str(error.reason), message=error.message, detail=self.rel(target)
        )
        self.journal.error(entry.name, f"{error.reason}: {error.message}")
        return Outcome("quarantined", path, entry.name, sha256, target=target, error=error)

    # -- after a crash -----------------------------------------------------------------------------
    def recover(self) -> dict[str, int]:
        """Finish or roll back what an earlier run left in flight; put the index in step with the archive.

        Temporary files a killed writer left are removed; a PDF whose sidecar never landed is moved
        to `_state/recovered/` (its original is still in the inbox); sheets filed before the crash
        are indexed (again: adding is idempotent); a file whose sheets were all filed leaves the
        inbox, whether or not its batch was committed before the crash (its sheets are indexed
        here). Files interrupted mid-filing stay in the inbox and are resumed when taken.
        Called at start, before this run files anything: rows of this run are not touched.
        """
        stats = {"temp_files": 0, "orphans": 0, "reindexed": 0, "unindexed": 0, "finished": 0, "resumable": 0}
        rows = self.journal.interrupted()
        try:
            with archive_lock(self.archive):
                for tmp in leftover_temp_files(self.archive):
                    try:
                        tmp.unlink()
                        stats["temp_files"] += 1
                        log.warning("removed %s, a temporary file left by an interrupted run", self.rel(tmp))
                    except OSError as exc:
                        log.warning("cannot remove the leftover temporary file %s: %s", tmp, exc)
                for row in rows:
                    stats["orphans"] += self._move_orphans(row.planned)
        except Timeout:
            raise ArchiveUnwritable(
                f"{self.archive}: another signoff process holds the archive lock", stage="watch"
            ) from None
        add: dict[str, dict[str, Any]] = {}
        drop: set[str] = set()
        finish: list[tuple[int, Path | None, str]] = []  # (row, original to remove, final state)
        for row in rows:
            if row.state == "reading":
                self.journal.release(row.id)  # nothing was written for it
                continue
            for pdf in row.sheets:
                sidecar = self._sidecar(pdf)
                if sidecar is None:
                    drop.add(pdf)
                else:
                    add[pdf] = sidecar
            src = self.settings.inbox / row.rel
            present = src.is_file() and not src.is_symlink()
            all_filed = row.state == "indexed" or (row.docs is not None and 0 < row.docs <= len(row.sheets))
            if present and not all_filed:
                stats["resumable"] += 1
                log.info("%s: filing was interrupted; it is resumed from the inbox", printable(row.rel))
                continue
            if not present and not all_filed:
                log.warning(
                    "%s: filing was interrupted and the file is no longer in the inbox; %d sheet(s) of it were filed",
                    printable(row.rel),
                    len(row.sheets),
                )
            same = present and row.sha256 is not None and sha256_file(src) == row.sha256
            finish.append((row.id, src if same else None, "filed" if row.sheets else "gone"))
        # Recently filed sheets too: whatever happened to the index since, it agrees again.
        for pdf in self.journal.recent_sheets():
            if pdf not in add and pdf not in drop:
                sidecar = self._sidecar(pdf)
                if sidecar is None:
                    drop.add(pdf)
                else:
                    add[pdf] = sidecar
        if add:
            self._index_add(list(add.values()))
            stats["reindexed"] = len(add)
        if drop:
            try:
                stats["unindexed"] = int(self._index().delete(sorted(drop)))
            finally:
                self._close_index()
            log.warning("%d sheet(s) in the journal have no file in the archive; out of the index", len(drop))
        # Only now, with every sheet of it in the index, does an original leave the inbox.
        for row_id, src, state in finish:
            if src is not None:
                remove_original(src)
            self.journal.finish(row_id, state)
            stats["finished"] += 1
        return stats

    def _sidecar(self, pdf: str) -> dict[str, Any] | None:
        """The sidecar of a filed PDF, if both are there."""
        path = self.archive / pdf
        if not path.is_file():
            return None
        try:
            data = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _move_orphans(self, planned: tuple[tuple[str, str], ...]) -> int:
        """PDFs a crash left without their sidecar: not filed; kept in `_state/recovered/`, out of the way."""
        moved = 0
        for folder, stem in planned:
            where = self.archive / folder
            if not where.is_dir():
                continue
            pattern = re.compile(re.escape(stem) + r"(?:\.v\d+)?\.pdf")
            for pdf in where.iterdir():
                if pattern.fullmatch(pdf.name) and not pdf.with_suffix(".json").exists():
                    dest_dir = self.archive / STATE_FOLDER / "recovered"
                    dest_dir.mkdir(parents=True, exist_ok=True)
                    dest = dest_dir / f"{_now():%Y%m%dT%H%M%S}-{pdf.name}"
                    shutil.move(pdf, dest)
                    log.warning("%s had no sidecar (filing was interrupted); moved to %s", self.rel(pdf), self.rel(dest))
                    moved += 1
        return moved
