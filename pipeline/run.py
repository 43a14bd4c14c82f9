"""The whole flow for a file: read it, file each document, index it, then let the original go."""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.classify import CustomerList, load_customers
from pipeline.document import ScanDoc
from pipeline.errors import ArchiveUnwritable, DocumentError, PipelineError, ReasonCode, Unreadable
from pipeline.filing import FiledDoc, file_document, plan_destination, quarantine, remove_original
from pipeline.ingest import SourceFile, open_source
from pipeline.ocr import OcrEngine, TesseractEngine
from pipeline.reader import build_documents, read_page
from pipeline.settings import Settings
from pipeline.timing import stage

__all__ = ["BATCH_SECONDS", "BATCH_SHEETS", "FileOutcome", "Pipeline", "iter_inbox"]

log = logging.getLogger(__name__)

IGNORED = (".*", "~$*", "*.part", "*.tmp", "*.crdownload", "Thumbs.db", "desktop.ini")
IGNORED_DIRS = ("@eaDir", "__MACOSX", ".stfolder", ".*")
# `signoff process` indexes in batches: one commit for this many sheets, or for what was filed in
# this many seconds (a sheet takes seconds to read, so a commit each file would be most of the
# index's work at a million sheets, and leave it many small segments to merge).
BATCH_SHEETS = 50
BATCH_SECONDS = 30.0


def iter_inbox(inbox: Path) -> Iterator[Path]:
    """Files waiting in the inbox (sub-folders too), oldest first; hidden and partial files skipped."""
    found: list[tuple[float, Path]] = []
    for path in inbox.rglob("*"):
        rel = path.relative_to(inbox)
        if any(fnmatch.fnmatch(part, pat) for part in rel.parts[:-1] for pat in IGNORED_DIRS):
            continue
        if any(fnmatch.fnmatch(path.name, pat) for pat in IGNORED):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        found.append((path.stat().st_mtime, path))
    for _, path in sorted(found):
        yield path


@dataclass(slots=True)
class FileOutcome:
    """What became of one source file."""

    source: Path
    docs: list[ScanDoc] = field(default_factory=list)
    filed: list[FiledDoc] = field(default_factory=list)
    error: DocumentError | None = None
    quarantined: Path | None = None
    planned: list[Path] = field(default_factory=list)  # --dry-run destinations


@dataclass(slots=True)
class _Batch:
    """Filed sheets waiting for one index commit, and the originals that may leave once it is made."""

    sidecars: list[dict[str, Any]] = field(default_factory=list)
    originals: list[Path] = field(default_factory=list)
    started: float | None = None  # time.monotonic() of the first file filed into it


class Pipeline:
    """One configured run: the OCR engine, the customer list and the index, built once."""

    def __init__(
        self,
        settings: Settings,
        engine: OcrEngine | None = None,
        index_factory: Callable[[], object] | None = None,
        now: Callable[[], datetime] | None = None,
        batch_sheets: int = BATCH_SHEETS,
        batch_seconds: float = BATCH_SECONDS,
    ) -> None:
        self.settings = settings
        if engine is None:
            tess = TesseractEngine(settings.languages)
            tess.check()
            engine = tess
        self.engine = engine
        self.customers: CustomerList | None = (
            load_customers(settings.customers) if settings.customers else None
        )
        self._index_factory = index_factory
        self._index = None
        self._notes = None  # pipeline.index.PendingFolders, made when a first sheet is filed
        self._batch = _Batch()
        self.batch_sheets = batch_sheets
        self.batch_seconds = batch_seconds
        self.now = now or (lambda: datetime.now(timezone.utc).astimezone())

    # -- reading -------------------------------------------------------------------------------
    def read(self, path: Path) -> list[ScanDoc]:
        """Read a file into documents without filing anything (raises DocumentError)."""
        return self._read(path)[1]

    def read_file(self, path: Path) -> tuple[SourceFile, list[ScanDoc]]:
        """Read a file into documents, with what filing needs to know of the file (raises DocumentError)."""
        return self._read(path)

    def _read(self, path: Path) -> tuple[SourceFile, list[ScanDoc]]:
        src = open_source(path, self.settings.dpi)
        now = self.now().replace(tzinfo=None)
        pages = (read_page(raw, self.engine, self.settings.date_order, now) for raw in src.pages())
        docs = build_documents(path, src.sha256, pages, self.customers)
        if not docs:
            raise Unreadable(
                f"{path.name}: every page is blank; nothing to file",
                reason=ReasonCode.NOTHING_TO_READ,
                stage="read",
            )
        return src, docs

    # -- filing --------------------------------------------------------------------------------
    def index(self):  # noqa: ANN201 - the store type lives in pipeline.index
        if self._index is None:
            if self._index_factory is not None:
                self._index = self._index_factory()
            else:
                from pipeline.index import IndexSchemaMismatch, IndexStore, rebuild

                idx_dir = self.settings.index_dir
                try:
                    self._index = IndexStore.open(idx_dir)
                except IndexSchemaMismatch:
                    log.warning("index schema changed: rebuilding %s from the archive", idx_dir)
                    rebuild(idx_dir, self.settings.archive)
                    self._index = IndexStore.open(idx_dir)
        return self._index

    def close(self) -> None:
        """Release the index; a batch not committed stays noted on disk for the next run to index."""
        if self._notes is not None:
            self._notes.close()
            self._notes = None
        if self._index is not None:
            self._index.close()
            self._index = None

    def index_unindexed(self) -> int:
        """Index the sheets a run that died before its commit filed (see pipeline.index.pending)."""
        from pipeline.index import index_unindexed, pending_dir

        notes = pending_dir(self.settings.index_dir)
        if not notes.is_dir() or not any(notes.iterdir()):
            return 0  # the usual case: no index to open
        return index_unindexed(self.index(), self.settings.archive)

    def _note(self, folder: Path) -> None:
        """Note on disk, before a sheet is filed in it, that ``folder`` has sheets the index may lack."""
        from pipeline.index import PendingFolders, pending_dir

        if self._notes is None:
            self._notes = PendingFolders(pending_dir(self.settings.index_dir))
        try:
            self._notes.note(folder.relative_to(self.settings.archive).as_posix())
        except OSError as exc:
            raise ArchiveUnwritable(f"cannot write to the archive {self.settings.archive}: {exc}") from exc

    def _file(self, path: Path, *, remove: bool, dry_run: bool) -> FileOutcome:
        """Read and file one file (or quarantine it); its sheets join the batch waiting for the index."""
        outcome = FileOutcome(path)
        now = self.now()
        try:
            src, outcome.docs = self._read(path)
        except DocumentError as exc:
            outcome.error = exc
            if not dry_run:
                outcome.quarantined = quarantine(path, exc, self.settings.quarantine, None, now)
            return outcome
        if dry_run:
            outcome.planned = [plan_destination(self.settings.archive, d, now) for d in outcome.docs]
            return outcome
        if self._batch.started is None:
            self._batch.started = time.monotonic()
        for doc in outcome.docs:
            with stage("filing"):
                self._note(plan_destination(self.settings.archive, doc, now).parent)
                filed = file_document(doc, self.settings.archive, src.kind, now)
            outcome.filed.append(filed)
            # Duplicates too: a run that died before its commit may have filed them unindexed.
            if isinstance(filed.sidecar.get("file"), Mapping):
                self._batch.sidecars.append(filed.sidecar)
        if remove:
            self._batch.originals.append(path)  # only once every sheet of it is filed
        return outcome

    def _due(self) -> bool:
        started = self._batch.started
        return len(self._batch.sidecars) >= self.batch_sheets or (
            started is not None and time.monotonic() - started >= self.batch_seconds
        )

    def commit(self) -> None:
        """Index the batch's sheets in one commit; only then do their originals leave the inbox."""
        batch, self._batch = self._batch, _Batch()
        if batch.sidecars:
            with stage("indexing"):
                self.index().add(batch.sidecars)
        if self._notes is not None:
            self._notes.committed()
        for path in batch.originals:
            remove_original(path)

    def process(self, path: Path, *, remove: bool = True, dry_run: bool = False) -> FileOutcome:
        """Read, file and index one file (one commit); quarantine it if it is bad. Setup errors propagate."""
        outcome = self._file(path, remove=remove, dry_run=dry_run)
        self.commit()
        return outcome

    def process_many(
        self,
        paths: Sequence[Path],
        *,
        remove: Callable[[Path], bool] = lambda p: True,
        dry_run: bool = False,
        progress: Callable[[FileOutcome], None] | None = None,
    ) -> list[FileOutcome]:
        """Read and file each file, indexing in batches (batch_sheets sheets or batch_seconds, whichever first).

        A file's original leaves the inbox only once every sheet of it is committed to the index.
        """
        outcomes = []
        try:
            if not dry_run:
                self.index_unindexed()
            for path in paths:
                outcome = self._file(path, remove=remove(path), dry_run=dry_run)
                outcomes.append(outcome)
                if self._due():
                    self.commit()
                if progress:
                    progress(outcome)
            self.commit()
        except BaseException:
            # Interrupted (Ctrl-C, a setup error): what was filed becomes searchable and its
            # originals leave, so the next run does not read them again; the first error is the one raised.
            try:
                self.commit()
            except (PipelineError, OSError) as exc:
                log.warning("could not index the sheets filed before the interruption (%s); the next run will", exc)
            raise
        finally:
            self.close()
        return outcomes
