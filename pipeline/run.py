"""The whole flow for a file: read it, file each document, index it, then let the original go."""

from __future__ import annotations

import contextlib
import fnmatch
import logging
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.classify import Known, load_known
from pipeline.document import ScanDoc
from pipeline.errors import ArchiveUnwritable, DocumentError, PipelineError, ReasonCode, Unreadable
from pipeline.filing import FiledDoc, file_document, plan_destination, quarantine, remove_original
from pipeline.ingest import SourceFile, open_source
from pipeline.ocr import OcrEngine, TesseractEngine
from pipeline.parallel import read_pages
from pipeline.reader import PageResult, build_documents, read_page
from pipeline.settings import Settings
from pipeline.timing import stage

__all__ = ["BATCH_SECONDS", "BATCH_SHEETS", "FileOutcome", "PageProgress", "Pipeline", "Read", "documents", "iter_inbox"]

log = logging.getLogger(__name__)

IGNORED = (".*", "~$*", "*.part", "*.tmp", "*.crdownload", "Thumbs.db", "desktop.ini")
IGNORED_DIRS = ("@eaDir", "__MACOSX", ".stfolder", ".*")
# `signoff process` indexes in batches: one commit for this many sheets, or for what was filed in
# this many seconds (a sheet takes seconds to read, so a commit each file would be most of the
# index's work at a million sheets, and leave it many small segments to merge).
BATCH_SHEETS = 50
BATCH_SECONDS = 30.0

Read = tuple[SourceFile, list[ScanDoc]]  # a file read: what filing needs to know of it, and its documents
PageProgress = Callable[[int, int], None]  # (pages just finished, pages in the whole run)


def documents(src: SourceFile, pages: Iterable[PageResult], known: Known) -> list[ScanDoc]:
    """Group a file's page readings, in page order, into documents, as a whole file read gives them.

    Shared with the watch service's reader pool, which has a file's pages read in several processes.

    Raises:
        DocumentError: a page could not be read (from ``pages``), or every page is blank.
    """
    docs = build_documents(src.path, src.sha256, pages, known)
    if not docs:
        raise Unreadable(
            f"{src.path.name}: every page is blank; nothing to file",
            reason=ReasonCode.NOTHING_TO_READ,
            stage="read",
        )
    return docs


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
        # Processes reading pages in process_many. A stand-in engine (a test's) stays in this one.
        self.workers = 1 if engine is not None else settings.workers or os.cpu_count() or 1
        if engine is None:
            tess = TesseractEngine(settings.languages)
            tess.check()
            engine = tess
        self.engine = engine
        self.known = load_known(settings.customers, settings.articles)
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

    def open(self, path: Path) -> SourceFile:
        """Check a file and count its pages, to read at the configured resolution (raises DocumentError)."""
        return open_source(path, self.settings.dpi)

    def read_one(self, src: SourceFile, number: int) -> PageResult:
        """Rasterise and read page ``number`` (1-based) of an opened file (raises DocumentError)."""
        return read_page(src.page(number), self.engine, self.settings.date_order, self._naive_now())

    def _read(self, path: Path) -> Read:
        src = self.open(path)
        return src, self._documents(src, self._pages(src))

    def _open(self, path: Path) -> SourceFile | DocumentError:
        try:
            return self.open(path)
        except DocumentError as exc:
            return exc

    def _naive_now(self) -> datetime:
        """The time a page's dates are judged against (they carry no time zone)."""
        return self.now().replace(tzinfo=None)

    def _pages(self, src: SourceFile, on_pages: Callable[[int], None] = lambda n: None) -> Iterator[PageResult]:
        """Read a file's pages in this process, one after another (each rasterised as its turn comes)."""
        now = self._naive_now()
        read = 0
        try:
            for raw in src.pages():
                result = read_page(raw, self.engine, self.settings.date_order, now)
                read += 1
                on_pages(1)
                yield result
        except DocumentError:
            on_pages(src.page_count - read)  # the rest will not be read: the file is quarantined
            raise

    def _documents(self, src: SourceFile, pages: Iterable[PageResult]) -> list[ScanDoc]:
        """Group a file's page readings into documents (raises DocumentError: a bad page, or all blank)."""
        return documents(src, pages, self.known)

    def _reads(self, paths: Sequence[Path], pages: PageProgress) -> Generator[tuple[Path, Read | DocumentError], None, None]:
        """Each file read (or why it cannot be filed), in the order given.

        Every file is opened first (hash, page count), so the run's pages are known. Several
        processes read them (pipeline.parallel) when there are cores to use and more than one
        page; else this one reads them, page after page, as it always did.
        """
        opened = [(path, self._open(path)) for path in paths]
        total = sum(src.page_count for _, src in opened if isinstance(src, SourceFile))
        pages(0, total)

        def finished(n: int) -> None:
            pages(n, total)

        workers = min(self.workers, total)
        stream: Generator[tuple[Path, SourceFile | DocumentError, Iterable[PageResult]], None, None]
        if workers > 1:
            stream = read_pages(opened, self.settings, workers, self._naive_now, finished)
        else:
            stream = self._read_here(opened, finished)
        with contextlib.closing(stream):
            for path, src, results in stream:
                yield path, self._assemble(src, results)

    def _read_here(
        self, opened: Sequence[tuple[Path, SourceFile | DocumentError]], on_pages: Callable[[int], None]
    ) -> Generator[tuple[Path, SourceFile | DocumentError, Iterable[PageResult]], None, None]:
        for path, src in opened:
            yield path, src, self._pages(src, on_pages) if isinstance(src, SourceFile) else ()

    def _assemble(self, src: SourceFile | DocumentError, pages: Iterable[PageResult]) -> Read | DocumentError:
        if isinstance(src, DocumentError):
            return src
        try:
            return src, self._documents(src, pages)
        except DocumentError as exc:
            return exc

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

    def _file(self, path: Path, read: Read | DocumentError, *, remove: bool, dry_run: bool) -> FileOutcome:
        """File one file as read (or quarantine it); its sheets join the batch waiting for the index."""
        outcome = FileOutcome(path)
        now = self.now()
        if isinstance(read, DocumentError):
            outcome.error = read
            if not dry_run:
                outcome.quarantined = quarantine(path, read, self.settings.quarantine, None, now)
            return outcome
        src, outcome.docs = read
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
        try:
            read: Read | DocumentError = self._read(path)
        except DocumentError as exc:
            read = exc
        outcome = self._file(path, read, remove=remove, dry_run=dry_run)
        self.commit()
        return outcome

    def process_many(
        self, paths: Sequence[Path], *, progress: Callable[[FileOutcome], None] | None = None, **options: Any
    ) -> list[FileOutcome]:
        """Read and file each file (`process_iter`, which takes the ``options``); every file's outcome,
        in the order of ``paths``. ``progress`` is called with each outcome as it comes."""
        outcomes = []
        for outcome in self.process_iter(paths, **options):
            outcomes.append(outcome)
            if progress:
                progress(outcome)
        return outcomes

    def process_iter(
        self,
        paths: Sequence[Path],
        *,
        remove: Callable[[Path], bool] = lambda p: True,
        dry_run: bool = False,
        pages: PageProgress | None = None,
    ) -> Generator[FileOutcome, None, None]:
        """Read and file each file, indexing in batches (batch_sheets sheets or batch_seconds, whichever first).

        A file's original leaves the inbox only once every sheet of it is committed to the index.
        ``self.workers`` processes read the pages; this one files each file, in the order given, and
        yields its outcome once it is filed (indexed at the next commit; the last one when the
        generator ends). Nothing is kept here, so a run of thousands of files holds none of them.

        Args:
            paths: the files.
            remove: whether a file's original leaves once it is filed.
            dry_run: read the files and plan where they go; write nothing.
            pages: called with (pages just finished, pages in the run): first (0, total) once every
                file is opened, then as pages are read; a quarantined file's unread pages count too.
        """
        try:
            if not dry_run:
                self.index_unindexed()
            # Closed before a commit after an interruption: the reading processes stop first.
            with contextlib.closing(self._reads(paths, pages or (lambda n, total: None))) as reads:
                for path, read in reads:
                    outcome = self._file(path, read, remove=remove(path), dry_run=dry_run)
                    if self._due():
                        self.commit()
                    yield outcome
            self.commit()
        except BaseException:
            # Interrupted (Ctrl-C, a setup error, the caller stopped): what was filed becomes
            # searchable and its originals leave, so the next run does not read them again; the
            # first error is the one raised.
            try:
                self.commit()
            except (PipelineError, OSError) as exc:
                log.warning("could not index the sheets filed before the interruption (%s); the next run will", exc)
            raise
        finally:
            self.close()
