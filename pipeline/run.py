"""The whole flow for a file: read it, file each document, index it, then let the original go."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from pipeline.classify import CustomerList, load_customers
from pipeline.document import ScanDoc
from pipeline.errors import DocumentError, ReasonCode, Unreadable
from pipeline.filing import FiledDoc, file_document, plan_destination, quarantine, remove_original
from pipeline.ingest import SourceFile, open_source
from pipeline.ocr import OcrEngine, TesseractEngine
from pipeline.reader import build_documents, read_page
from pipeline.settings import Settings

__all__ = ["FileOutcome", "Pipeline", "iter_inbox"]

log = logging.getLogger(__name__)

IGNORED = (".*", "~$*", "*.part", "*.tmp", "*.crdownload", "Thumbs.db", "desktop.ini")
IGNORED_DIRS = ("@eaDir", "__MACOSX", ".stfolder", ".*")


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


class Pipeline:
    """One configured run: the OCR engine, the customer list and the index, built once."""

    def __init__(
        self,
        settings: Settings,
        engine: OcrEngine | None = None,
        index_factory: Callable[[], object] | None = None,
        now: Callable[[], datetime] | None = None,
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
        if self._index is not None:
            self._index.close()
            self._index = None

    def process(self, path: Path, *, remove: bool = True, dry_run: bool = False) -> FileOutcome:
        """Read, file and index one file; quarantine it if it is bad. Setup errors propagate."""
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
        for doc in outcome.docs:
            outcome.filed.append(file_document(doc, self.settings.archive, src.kind, now))
        new = [f.sidecar for f in outcome.filed if f.outcome != "duplicate"]
        if new:
            self.index().add(new)
        # Only now, with every document from the file written, checked and indexed, does the
        # original leave the inbox.
        if remove:
            remove_original(path)
        return outcome

    def process_many(
        self,
        paths: Sequence[Path],
        *,
        remove: Callable[[Path], bool] = lambda p: True,
        dry_run: bool = False,
        progress: Callable[[FileOutcome], None] | None = None,
    ) -> list[FileOutcome]:
        outcomes = []
        try:
            for path in paths:
                outcome = self.process(path, remove=remove(path), dry_run=dry_run)
                outcomes.append(outcome)
                if progress:
                    progress(outcome)
        finally:
            self.close()
        return outcomes
