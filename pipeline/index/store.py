"""The whoosh search index of the archive: open, add, delete, search and rebuild it.

::

    ArchiveUnwritable (pipeline.errors)
    ├── IndexSchemaMismatch   the index has another schema_version, or is damaged: run rebuild()
    ├── IndexLocked           another process holds the index's write lock
    └── IndexMissing          open(create=False) found no index

The index never recreates itself on error: a version mismatch or a damaged index raises, and
only rebuild() (``signoff reindex``, or open_or_rebuild() for an index of another schema
version) replaces it, atomically, from the sidecars in the archive.

Concurrency: one writer at a time holds whoosh's write lock, an ``flock`` that the kernel
releases when its process dies (so a writer killed with -9 leaves a lock file that no longer
locks anything). Readers take no lock: they read the last committed table of contents, and
retry briefly when a commit or a rebuild's swap removes files under them.

Rescans: the versions of a sheet (``DN-1.pdf``, ``DN-1.v2.pdf``) share a ``series``; the store
keeps ``latest`` true on the newest one only, and a default search masks the others out.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import shutil
import struct
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import whoosh.index
from whoosh import query as wq
from whoosh import sorting
from whoosh.codec.whoosh3 import W3Codec
from whoosh.filedb.filestore import FileStorage
from whoosh.index import FileIndex, LockError
from whoosh.searching import Hit as WhooshHit
from whoosh.searching import Searcher
from whoosh.util.numeric import byte_to_length
from whoosh.writing import IndexWriter, SegmentWriter

from pipeline.errors import ArchiveUnwritable
from pipeline.folders import is_document_folder
from pipeline.index.query import compile_query, highlight_words, snippet, suggest
from pipeline.index.schema import SCHEMA, SCHEMA_VERSION, redo_document, series_of, to_document, unpack_text

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "SORTS",
    "Batch",
    "Hit",
    "IndexLocked",
    "IndexMissing",
    "IndexSchemaMismatch",
    "IndexStore",
    "Results",
    "count_sidecars",
    "iter_sidecars",
    "open_or_rebuild",
    "rebuild",
]

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = 30.0  # seconds a writer waits for another process to finish
SENTINEL = "signoff-index.json"  # {"schema_version": N}, written once the index is complete
_INDEX_NAME = "MAIN"  # whoosh's default index name: its files are _MAIN_*.toc, MAIN_WRITELOCK
SORTS = ("relevance", "date")
_READ_RETRY_SECONDS = 5.0  # how long a reader waits out a commit's or a swap's missing files
_BUILD_LIMIT_MB = 128  # whoosh's in-memory posting pool before it spills a run to disk
# Segments are written as separate files, never as one compound file: whoosh-reloaded 2.7.5
# reads a compound file's parts by copying them from the mmap into a BytesIO (BufferFile), so
# opening a searcher on a 100,000-sheet index copied its whole term index into memory (~1 s,
# hundreds of MB). Separate files are read with seek and read, through the page cache.


class IndexSchemaMismatch(ArchiveUnwritable):
    """The index was built for another schema version (or cannot be read): rebuild it."""

    def __init__(self, message: str, *, found: int | None = None) -> None:
        super().__init__(message, stage="index")
        self.found = found
        self.expected = SCHEMA_VERSION


class IndexLocked(ArchiveUnwritable):
    """Another process is writing to the index and did not finish in time."""


class IndexMissing(ArchiveUnwritable):
    """There is no index yet and the caller asked not to create one."""


@dataclass(frozen=True, slots=True)
class Hit:
    """One search result: what a listing shows, read from the index alone."""

    path: str  # archive-relative PDF path
    delivery_number: str | None
    customer: str | None
    date: str | None  # "YYYY-MM-DD"
    complete: bool
    kind: str
    statuses: dict[str, str] = field(default_factory=dict)
    snippet: str = ""  # matched words wrapped as [[word]]
    score: float = 0.0
    version: int = 1  # 2 and up: a rescan (DN-….v2.pdf)
    latest: bool = True  # whether no newer version of this sheet is filed
    customer_id: str | None = None
    signed: bool | None = None  # None for a page that is not a sign-off sheet

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``signoff search --json``; a contract: extend, never rename)."""
        return {
            "delivery_number": self.delivery_number,
            "customer": self.customer,
            "date": self.date,
            "complete": self.complete,
            "kind": self.kind,
            "path": self.path,
            "statuses": dict(self.statuses),
            "snippet": self.snippet,
            "score": round(self.score, 4),
            "customer_id": self.customer_id,
            "status": "complete" if self.complete else "incomplete",
            "signed": self.signed,
            "version": self.version,
            "latest": self.latest,
        }


@dataclass(frozen=True, slots=True)
class Results:
    """One page of a search: the hits, how many match in all, and a correction when none do."""

    hits: list[Hit]
    total: int  # documents matching (an upper estimate when total_exact is False)
    total_exact: bool
    page: int
    limit: int
    suggestion: str | None = None  # "did you mean": a corrected query that finds something

    @property
    def pages(self) -> int:
        """How many pages of ``limit`` hits there are (at least 1)."""
        return max(1, -(-self.total // self.limit))


def _score(value: Any) -> float:
    """A hit's relevance; sorted by date, whoosh gives the sort key (date, -score) instead."""
    if isinstance(value, tuple):
        value = -value[-1] if value and isinstance(value[-1], (int, float)) else 0.0
    return float(value or 0.0)


def _to_hit(hit: WhooshHit, words: frozenset[str], latest: bool) -> Hit:
    stored = hit.fields()
    meta: Mapping[str, Any] = stored.get("meta") or {}
    signed = meta.get("signed")
    return Hit(
        path=stored["path"],
        delivery_number=meta.get("delivery_number"),
        customer=meta.get("customer"),
        date=meta.get("date"),
        complete=bool(meta.get("complete")),
        kind=meta.get("kind") or "signoff",
        statuses=dict(meta.get("statuses") or {}),
        snippet=snippet(unpack_text(stored.get("body")), words),
        score=_score(hit.score),
        version=int(meta.get("version") or 1),
        latest=latest,
        customer_id=meta.get("customer_id"),
        signed=signed if isinstance(signed, bool) else None,
    )


def _read_version(index_dir: Path) -> int | None:
    try:
        data = json.loads((index_dir / SENTINEL).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    version = data.get("schema_version") if isinstance(data, dict) else None
    return version if isinstance(version, int) else None


def _write_version(index_dir: Path) -> None:
    tmp = index_dir / (SENTINEL + ".tmp")
    tmp.write_text(json.dumps({"schema_version": SCHEMA_VERSION}) + "\n", encoding="utf-8")
    os.replace(tmp, index_dir / SENTINEL)


def _sibling(index_dir: Path, suffix: str) -> Path:
    return index_dir.with_name(index_dir.name + suffix)


def _has_index(index_dir: Path) -> bool:
    """Whether whoosh has committed an index here (a TOC file), without reading it."""
    prefix = f"_{_INDEX_NAME}_"
    return index_dir.is_dir() and any(
        p.name.startswith(prefix) and p.name.endswith(".toc") for p in index_dir.iterdir()
    )


def _create_index(index_dir: Path) -> FileIndex:
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        ix = whoosh.index.create_in(str(index_dir), SCHEMA)
        _write_version(index_dir)
    except OSError as exc:
        raise ArchiveUnwritable(f"cannot create the search index in {index_dir}: {exc}") from exc
    return ix


def _open_index(index_dir: Path, *, create: bool) -> FileIndex:
    """Open the index, creating it only where there is nothing at all (never over a damaged one)."""
    rerun = "run `signoff reindex` to rebuild it from the archive"
    if not _has_index(index_dir):
        if _sibling(index_dir, ".old").exists():
            raise IndexSchemaMismatch(f"a rebuild of the search index {index_dir} was interrupted; {rerun}")
        if index_dir.is_dir() and any(index_dir.iterdir()):
            raise IndexSchemaMismatch(f"{index_dir} holds files but no readable search index; {rerun}")
        if not create:
            raise IndexMissing(f"there is no search index in {index_dir}; {rerun}")
        log.info("creating an empty search index in %s", index_dir)
        return _create_index(index_dir)
    found = _read_version(index_dir)
    if found != SCHEMA_VERSION:
        raise IndexSchemaMismatch(
            f"the search index {index_dir} has schema version {found}, this signoff needs "
            f"{SCHEMA_VERSION}; {rerun}",
            found=found,
        )
    try:
        ix = whoosh.index.open_dir(str(index_dir))
    except OSError as exc:
        raise ArchiveUnwritable(f"cannot read the search index {index_dir}: {exc}") from exc
    # A damaged table of contents surfaces as whoosh, struct, pickle or import errors.
    except (
        whoosh.index.IndexError,
        EOFError,
        ValueError,
        TypeError,
        struct.error,
        pickle.UnpicklingError,
        AttributeError,
        ImportError,
    ) as exc:
        raise IndexSchemaMismatch(f"the search index {index_dir} is damaged ({exc}); {rerun}") from exc
    if set(ix.schema.names()) != set(SCHEMA.names()):
        raise IndexSchemaMismatch(
            f"the search index {index_dir} has other fields than schema version {SCHEMA_VERSION}; {rerun}",
            found=found,
        )
    return ix


# A document's field length as whoosh stores it: one byte, 0 for none (whoosh then answers None).
_LENGTH_OF_BYTE: tuple[int | None, ...] = (None, *(byte_to_length(b) for b in range(1, 256)))


class _SegmentLengths:
    """A segment's document field lengths, each field's read whole when the scorer first asks.

    whoosh's BM25 asks for the field length of every document it scores, and its reader seeks
    and reads one byte of the column file each time (about a fifth of a search). The column is
    one byte per document: a million sheets, a megabyte a field, read in one go.
    """

    def __init__(self, storage: Any, segment: Any) -> None:
        self._storage = storage
        self._segment = segment
        self._fields: dict[str, bytes | None] = {}

    def _load(self, fieldname: str) -> bytes | None:
        name = W3Codec.column_filename(self._segment, f"_{fieldname}_len")
        if not self._storage.file_exists(name):
            return None
        f = self._storage.open_file(name)
        try:
            return bytes(f.read(self._storage.file_length(name)))
        finally:
            f.close()

    def __call__(self, docnum: int, fieldname: str, default: int = 0) -> int | None:
        try:
            data = self._fields[fieldname]
        except KeyError:
            data = self._fields[fieldname] = self._load(fieldname)
        if data is None:
            return default
        return _LENGTH_OF_BYTE[data[docnum]] if docnum < len(data) else None


def _hold_lengths(searcher: Searcher) -> None:
    """Let each of the searcher's segments answer field lengths from memory (_SegmentLengths)."""
    leaves = [s for s, _ in searcher.subsearchers] if searcher.subsearchers else [searcher]
    for leaf in leaves:
        reader = leaf.reader()
        if isinstance(reader.codec(), W3Codec) and hasattr(reader, "segment"):
            # whoosh's Searcher copies doc_field_length from its reader; the scorer calls the copy.
            leaf.doc_field_length = _SegmentLengths(reader.storage(), reader.segment())


def _doc_path(sidecar: Mapping[str, Any]) -> str:
    """The sidecar's ``file.path``, checked to be a relative POSIX path inside the archive."""
    file = sidecar.get("file")
    raw = file.get("path") if isinstance(file, Mapping) else None
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"sidecar {sidecar.get('doc_id')!r} has no file.path")
    path = PurePosixPath(raw.strip().replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(f"sidecar file.path {raw!r} is not a path inside the archive")
    return path.as_posix()


class IndexStore:
    """The search index in one directory. Writers take whoosh's lock; readers never need it."""

    def __init__(self, index_dir: Path, *, lock_timeout: float = DEFAULT_LOCK_TIMEOUT) -> None:
        """Remember where the index is; it is opened (never created) on first use.

        Args:
            index_dir: the index directory (``archive/_index`` by default).
            lock_timeout: seconds a writer waits for another process's write lock.
        """
        self.index_dir = Path(index_dir)
        self.lock_timeout = lock_timeout
        self._ix: FileIndex | None = None
        self._searcher: Searcher | None = None
        self._dir_id = 0

    @classmethod
    def open(
        cls, index_dir: Path, *, create: bool = True, lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    ) -> IndexStore:
        """Open the index in ``index_dir``, creating an empty one if there is none.

        Raises:
            IndexSchemaMismatch: the index has another schema_version or is damaged (rebuild it).
            IndexMissing: there is no index and ``create`` is False.
            ArchiveUnwritable: the index cannot be created or read.
        """
        store = cls(index_dir, lock_timeout=lock_timeout)
        store._ix = _open_index(store.index_dir, create=create)
        return store

    def _index(self) -> FileIndex:
        if self._ix is None:
            self._ix = _open_index(self.index_dir, create=False)
        return self._ix

    @contextmanager
    def _writer(self) -> Iterator[IndexWriter]:
        """One whoosh writer: committed if the block succeeds, cancelled if it raises."""
        ix = self._index()
        try:
            writer = ix.writer(timeout=self.lock_timeout, compound=False)
        except LockError as exc:
            raise IndexLocked(
                f"the search index {self.index_dir} is locked by another signoff process "
                f"(waited {self.lock_timeout:g}s); try again when it has finished"
            ) from exc
        except OSError as exc:
            raise ArchiveUnwritable(f"cannot write the search index {self.index_dir}: {exc}") from exc
        try:
            yield writer
        except BaseException:
            writer.cancel()
            raise
        try:
            writer.commit()
        except OSError as exc:
            raise ArchiveUnwritable(f"cannot write the search index {self.index_dir}: {exc}") from exc

    def add(self, sidecars: Iterable[Mapping[str, Any]]) -> int:
        """Add sidecars, replacing any document with the same ``file.path``, in one commit.

        A sidecar whose sheet has other versions in the index becomes the one a default search
        shows if its ``version`` is the highest, and hides the others; an older version added
        later stays hidden.

        Returns:
            The number of documents written (a path given twice counts once; the last wins).

        Raises:
            ValueError: a sidecar has no usable ``file.path`` (nothing is written).
            IndexLocked: another process kept the write lock past the timeout.
        """
        docs: dict[str, dict[str, Any]] = {}
        for sidecar in sidecars:
            path = _doc_path(sidecar)
            docs[path] = to_document(sidecar, path)
        if not docs:
            return 0
        with self._writer() as writer:
            _write_series(writer, docs, set())
        log.debug("indexed %d document(s) in %s", len(docs), self.index_dir)
        return len(docs)

    @contextmanager
    def batch(self) -> Iterator[Batch]:
        """Collect adds and deletes, and write them in one commit when the block ends.

        For a caller that files many sheets in a row (a watcher emptying a full inbox): one
        commit per batch instead of one per file. Nothing is written if the block raises.

        Raises:
            ValueError: a sidecar has no usable ``file.path`` (raised by Batch.add, at once).
            IndexLocked: another process kept the write lock past the timeout.
        """
        pending = Batch()
        yield pending
        if not pending.docs and not pending.deleted:
            return
        with self._writer() as writer:
            for path in sorted(pending.deleted):
                writer.delete_by_term("path", path)
            _write_series(writer, pending.docs, pending.deleted)
        log.debug("indexed %d and deleted %d document(s) in one commit", len(pending.docs), len(pending.deleted))

    def replace(self, sidecars: Iterable[Mapping[str, Any]]) -> int:
        """Index sidecars again after they changed (a corrected field): the same as add().

        Documents are keyed by their archive path, so a sidecar replaces the document with its
        ``file.path`` whether or not one is there.
        """
        return self.add(sidecars)

    def delete(self, paths: Iterable[str]) -> int:
        """Delete the documents with these archive-relative paths; return how many were deleted.

        Deleting the newest version of a sheet makes the next newest one the version shown.
        """
        unique = sorted(set(paths))
        if not unique:
            return 0
        with self._writer() as writer:
            deleted = sum(int(writer.delete_by_term("path", path)) for path in unique)
            _write_series(writer, {}, set(unique))
            return deleted

    def query(
        self,
        query: str,
        *,
        limit: int = 10,
        page: int = 1,
        sort: str = "relevance",
        date_from: date | None = None,
        date_to: date | None = None,
        suggestions: bool = True,
    ) -> Results:
        """Run a search (syntax: pipeline.index.query.QUERY_HELP) and return one page of it.

        Args:
            query: the query as typed; may be empty when a date bound is given.
            limit: hits per page.
            page: which page, from 1.
            sort: "relevance" (best first) or "date" (newest first, undated last).
            date_from: only sheets dated on or after this day (``--from``).
            date_to: only sheets dated on or before this day (``--to``).
            suggestions: when nothing matches, look for a corrected query that does.

        Raises:
            ValueError: the query is empty or malformed, or a paging or sort argument is.
        """
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if page < 1:
            raise ValueError(f"page must be at least 1, not {page}")
        if sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
        compiled = compile_query(query, date_from=date_from, date_to=date_to)
        sortedby = None
        if sort == "date":
            sortedby = sorting.MultiFacet([sorting.FieldFacet("day", reverse=True), sorting.ScoreFacet()])

        def run(searcher: Searcher) -> Results:
            results = searcher.search(
                compiled.query, limit=page * limit, sortedby=sortedby, mask=compiled.mask
            )
            shown = results[(page - 1) * limit : page * limit]
            words = highlight_words(compiled.query, searcher.reader()) if shown else frozenset()
            old = _not_latest(searcher, [h.docnum for h in shown]) if compiled.mask is None else set()
            hits = [_to_hit(h, words, h.docnum not in old) for h in shown]
            # Counting every match of a common word at a million sheets costs a second pass over
            # its postings: when the page did not exhaust the matches, estimate instead (from the
            # terms' document counts). Not results.estimated_length(): with a mask, whoosh's
            # FilterCollector claims an exact count and makes it by running the query again.
            collected = results.scored_length()
            exact = collected < page * limit
            total = collected if exact else max(collected, compiled.query.estimate_size(searcher.reader()))
            suggestion = None
            if not hits and total == 0 and suggestions and compiled.text:
                suggestion = _suggestion(searcher, compiled.text, date_from, date_to, query)
            return Results(hits, total, exact, page, limit, suggestion)

        return self._read(run)

    def search(
        self,
        query: str,
        *,
        limit: int | None = 10,
        page: int = 1,
        sort: str = "relevance",
        date_from: date | None = None,
        date_to: date | None = None,
    ) -> list[Hit]:
        """Return the best ``limit`` matches for a query (syntax: pipeline.index.query), best first.

        ``limit=None`` returns every match. See query() for the other arguments.

        Raises:
            ValueError: the query is empty or malformed.
        """
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        per_page = limit if limit is not None else max(1, self.count())
        return self.query(
            query, limit=per_page, page=page, sort=sort, date_from=date_from, date_to=date_to, suggestions=False
        ).hits

    def lookup(self, delivery: str) -> list[Hit]:
        """Every version of the sheet(s) with this delivery number (any case), newest first."""
        q = wq.Term("delivery", delivery.strip().lower())

        def run(searcher: Searcher) -> list[Hit]:
            found = searcher.search(q, limit=None)
            old = _not_latest(searcher, [h.docnum for h in found])
            hits = [_to_hit(h, frozenset(), h.docnum not in old) for h in found]
            return sorted(hits, key=lambda h: (h.latest, h.version, h.path), reverse=True)

        return self._read(run)

    def known(self, paths: Iterable[str]) -> set[str]:
        """Which of these archive-relative PDF paths the index has a document for."""
        wanted = sorted(set(paths))
        if not wanted:
            return set()
        return set(self._read(lambda s: [p for p in wanted if s.document_number(path=p) is not None]))

    def count(self) -> int:
        """Return the number of documents in the index."""
        return int(self._read(lambda searcher: searcher.doc_count()))

    def _read(self, fn: Callable[[Searcher], Any]) -> Any:
        """Run fn on a fresh searcher, retrying while a commit or a rebuild's swap moves files.

        A writer's commit deletes the segment files it merged away, and a rebuild renames the
        whole directory: a reader that read the table of contents just before may find a file
        gone. Such a reader simply starts again on the new table of contents. whoosh opens a
        segment's column files (stored fields, lengths) only when first needed and, finding
        one gone, hands back None where a reader was due: a TypeError, retried the same way,
        but only when a commit did happen since the searcher was opened. The time allowed for
        retrying counts from the first failure, so a search of many seconds (a phrase at a
        million sheets) is retried like a quick one.
        """
        deadline: float | None = None  # set at the first failure
        while True:
            try:
                if self._ix is None and _swapping(self.index_dir):
                    raise FileNotFoundError(f"{self.index_dir} is being swapped")
                searcher = self._fresh_searcher()
                try:
                    return fn(searcher)
                except (TypeError, AttributeError) as exc:
                    if deadline is None:
                        deadline = time.monotonic() + _READ_RETRY_SECONDS
                    if time.monotonic() >= deadline or not self._stale(searcher):
                        raise
                    raise FileNotFoundError(f"a segment file went away under the reader ({exc})") from exc
            except (OSError, whoosh.index.IndexError, IndexSchemaMismatch) as exc:
                if deadline is None:
                    deadline = time.monotonic() + _READ_RETRY_SECONDS
                if time.monotonic() >= deadline or not (
                    isinstance(exc, (FileNotFoundError, whoosh.index.EmptyIndexError)) or _swapping(self.index_dir)
                ):
                    if isinstance(exc, IndexSchemaMismatch):
                        raise
                    raise ArchiveUnwritable(f"cannot read the search index {self.index_dir}: {exc}") from exc
                log.debug("index changed under a reader (%s); reading again", exc)
                self.close()
                time.sleep(0.05)

    def _stale(self, searcher: Searcher) -> bool:
        """Whether a commit or a swap happened since this searcher was opened."""
        try:
            return os.stat(self.index_dir).st_ino != self._dir_id or (
                self._index().latest_generation() != searcher.reader().generation()
            )
        except (OSError, ArchiveUnwritable):
            return True

    def _fresh_searcher(self) -> Searcher:
        """A searcher on the last commit: kept between searches, renewed when a writer committed.

        Checking the generation costs a directory listing, so a long-running process (the
        watcher, a benchmark) does not reopen every segment for every search.
        """
        # A rebuild swaps in a new directory whose generation may equal the old one's.
        dir_id = os.stat(self.index_dir).st_ino
        if self._searcher is not None and (
            dir_id != self._dir_id or self._index().latest_generation() != self._searcher.reader().generation()
        ):
            # Not whoosh's Searcher.refresh(): whoosh-reloaded 2.7.5's reader reuse keeps the
            # segments a merge removed, so a refreshed searcher counts documents twice.
            self._searcher.close()
            self._searcher = None
        if self._searcher is None:
            self._searcher = self._index().searcher()
            _hold_lengths(self._searcher)
            self._dir_id = dir_id
        return self._searcher

    def close(self) -> None:
        """Release the index (a closed store reopens on next use)."""
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None
        if self._ix is not None:
            self._ix.close()
            self._ix = None

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Batch:
    """Adds and deletes waiting for IndexStore.batch() to commit them (the last word on a path wins)."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()

    def add(self, sidecars: Iterable[Mapping[str, Any]]) -> int:
        """Queue sidecars to add or replace; return how many.

        Raises:
            ValueError: a sidecar has no usable ``file.path``.
        """
        n = 0
        for sidecar in sidecars:
            path = _doc_path(sidecar)
            self.docs[path] = to_document(sidecar, path)
            self.deleted.discard(path)
            n += 1
        return n

    def delete(self, paths: Iterable[str]) -> None:
        """Queue documents to delete by archive-relative path."""
        for path in paths:
            self.docs.pop(path, None)
            self.deleted.add(path)


def _swapping(index_dir: Path) -> bool:
    """Whether a rebuild is between its two renames (the old index moved aside, the new not yet in)."""
    return not _has_index(index_dir) and _sibling(index_dir, ".old").exists()


def _not_latest(searcher: Searcher, docnums: Iterable[int]) -> set[int]:
    wanted = set(docnums)
    if not wanted:
        return set()
    return wanted & set(searcher.docs_for_query(wq.Term("latest", "no")))


def _suggestion(
    searcher: Searcher, text: str, date_from: date | None, date_to: date | None, original: str
) -> str | None:
    """A corrected query that finds something, or None."""
    corrected = suggest(text, searcher.reader())
    if corrected is None:
        return None
    # Keep the version: clause the person typed; the correction only touches the words.
    rest = original.replace(text, corrected, 1) if text in original else corrected
    try:
        compiled = compile_query(rest, date_from=date_from, date_to=date_to)
    except ValueError:
        return None
    found = searcher.search(compiled.query, limit=1, mask=compiled.mask)
    return rest if found.scored_length() else None


def _series_members(searcher: Searcher, series: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(version, path, stored fields) of each committed document of a series.

    One term lookup: asking for ``series=… latest=yes`` instead would walk every document's
    ``latest`` posting (whoosh intersects by listing both sides), seconds at 100,000 sheets.
    """
    out = []
    for docnum in searcher.document_numbers(series=series):
        stored = searcher.stored_fields(docnum)
        version = int((stored.get("meta") or {}).get("version") or 1)
        out.append((version, stored["path"], stored))
    return out


def _write_series(writer: IndexWriter, docs: Mapping[str, dict[str, Any]], deleted: set[str]) -> None:
    """Write new documents and set ``latest`` across each series they, or deleted paths, touch.

    Within a series the highest version wins (ties: the later path). The other committed
    members of a touched series are re-added from their stored ``src`` with ``latest`` set
    anew: a series is one sheet's few versions, and nearly every new sheet has none.
    """
    touched: dict[str, list[tuple[int, str]]] = {}
    for path, doc in docs.items():
        touched.setdefault(doc["series"], []).append((int(doc["meta"]["version"]), path))
    for path in deleted:
        touched.setdefault(series_of(path), [])
    searcher = writer.searcher()
    try:
        for series, new in touched.items():
            members = [m for m in _series_members(searcher, series) if m[1] not in docs and m[1] not in deleted]
            everyone = [(v, p) for v, p, _ in members] + new
            if not everyone:
                continue
            top = max(everyone)[1]
            for _, path, stored in members:
                writer.update_document(**redo_document(stored, latest=path == top))
            for _, path in new:
                docs[path]["latest"] = "yes" if path == top else "no"
                writer.update_document(**docs[path])
    finally:
        searcher.close()


def _walk_json(folder: Path) -> Iterator[Path]:
    """Every ``*.json`` under folder in path order, streamed, not following symlinked folders."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk_json(Path(entry.path))
        elif entry.name.endswith(".json") and not entry.name.endswith(".reason.json") and entry.is_file():
            yield Path(entry.path)


def iter_sidecars(archive: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Yield ``(json path, sidecar)`` for every sidecar in the customer folders, sorted by path.

    Skips the ``_`` folders other than ``_unknown`` (``_quarantine``, ``_index``) and hidden
    ones. A file that is not readable JSON, or not a JSON object, is skipped with a warning.
    """
    archive = Path(archive)
    with os.scandir(archive) as it:
        tops = sorted(Path(e.path) for e in it if e.is_dir(follow_symlinks=False) and is_document_folder(e.name))
    for top in tops:
        for path in _walk_json(top):
            try:
                sidecar = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                log.warning("skipping sidecar %s: cannot read it as JSON (%s)", path, exc)
                continue
            if not isinstance(sidecar, dict):
                log.warning("skipping sidecar %s: not a JSON object", path)
                continue
            yield path, sidecar


def _archive_path(archive: Path, json_path: Path, sidecar: Mapping[str, Any]) -> str:
    """Where the PDF really is: beside its sidecar, same name (the archive may have been moved by hand)."""
    actual = json_path.with_suffix(".pdf").relative_to(archive).as_posix()
    file = sidecar.get("file")
    declared = file.get("path") if isinstance(file, Mapping) else None
    if declared != actual:
        log.warning("sidecar %s says file.path=%r; indexing it at %s, where it is", json_path, declared, actual)
    return actual


@contextmanager
def _hold_write_lock(index_dir: Path, timeout: float) -> Iterator[None]:
    """Hold the live index's write lock, so no process adds documents a rebuild would lose."""
    if not index_dir.is_dir():
        yield
        return
    with _hold_lock(index_dir, f"{_INDEX_NAME}_WRITELOCK", timeout, index_dir):
        yield


@contextmanager
def _hold_lock(folder: Path, name: str, timeout: float, index_dir: Path) -> Iterator[None]:
    """Hold an flock on folder/name (released by the kernel if this process dies)."""
    lock = FileStorage(str(folder)).lock(name)
    deadline = time.monotonic() + timeout
    while not lock.acquire(blocking=False):
        if time.monotonic() >= deadline:
            raise IndexLocked(
                f"the search index {index_dir} is locked by another signoff process "
                f"(waited {timeout:g}s); try the rebuild again when it has finished"
            )
        time.sleep(0.1)
    try:
        yield
    finally:
        lock.release()


def _flush_folder(writer: IndexWriter, pending: dict[str, list[tuple[int, str, dict[str, Any]]]]) -> int:
    """Write one folder's documents, ``latest`` on the highest version of each series."""
    count = 0
    for members in pending.values():
        top = max((version, path) for version, path, _ in members)[1]
        for _, path, doc in members:
            doc["latest"] = "yes" if path == top else "no"
            # Each sidecar file names a different PDF path, so plain add_document is safe here.
            writer.add_document(**doc)
            count += 1
    pending.clear()
    return count


class _Lengths:
    """A new segment's field lengths, each field's read into memory when first asked for.

    whoosh's commit asks for a document's field length once per posting (to keep each posting
    block's shortest and longest document), and its reader seeks and reads one byte of the
    column file every time: a quarter of a rebuild's time. Asking once per document and field
    instead is about 30 times fewer reads; a field costs a list of one small int per document.
    """

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._fields: dict[str, list[int | None]] = {}

    def doc_field_length(self, docnum: int, fieldname: str, default: int = 0) -> int | None:
        lengths = self._fields.get(fieldname)
        if lengths is None:
            read = self._reader.doc_field_length
            lengths = [read(n, fieldname, default) for n in range(self._reader.doc_count_all())]
            self._fields[fieldname] = lengths
        return lengths[docnum]

    def close(self) -> None:
        self._fields.clear()
        self._reader.close()


class _BuildWriter(SegmentWriter):  # type: ignore[misc]
    """whoosh's writer, with the field lengths its commit reads held in memory (_Lengths)."""

    def per_document_reader(self) -> Any:
        return _Lengths(super().per_document_reader())


def _build(target: Path, archive: Path, progress: Callable[[int], None] | None, limitmb: int) -> int:
    """Build a complete index of the archive's sidecars in ``target`` (an empty directory).

    Streams: only one folder's documents are held at a time (all versions of a sheet are
    filed in one folder, so its ``latest`` is known when the folder is done), and whoosh
    spills its posting pool to disk past ``limitmb``.
    """
    ix = _create_index(target)
    writer = _BuildWriter(ix, limitmb=limitmb, compound=False)
    count = 0
    folder: Path | None = None
    pending: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}

    def flush() -> None:
        nonlocal count
        before = count
        count += _flush_folder(writer, pending)
        if progress is not None:
            for n in range(before + 1, count + 1):
                progress(n)

    try:
        for json_path, sidecar in iter_sidecars(archive):
            if json_path.parent != folder:
                flush()
                folder = json_path.parent
            path = _archive_path(archive, json_path, sidecar)
            doc = to_document(sidecar, path)
            pending.setdefault(doc["series"], []).append((int(doc["meta"]["version"]), path, doc))
        flush()
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    ix.close()
    return count


def count_sidecars(archive: Path) -> int:
    """How many sidecars rebuild() will read (file names only, for a progress bar's total)."""
    archive = Path(archive)
    if not archive.is_dir():
        return 0
    with os.scandir(archive) as it:
        tops = [Path(e.path) for e in it if e.is_dir(follow_symlinks=False) and is_document_folder(e.name)]
    return sum(1 for top in tops for _ in _walk_json(top))


def rebuild(
    index_dir: Path,
    archive: Path,
    *,
    progress: Callable[[int], None] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    limitmb: int = _BUILD_LIMIT_MB,
) -> int:
    """Rebuild the index from every sidecar in the archive, then swap it in.

    The new index is built in ``<index_dir>.rebuild`` beside the old one while the old one's
    write lock is held (searches go on using the old one); then the old one is renamed to
    ``<index_dir>.old``, the new one renamed into place and the old one deleted. An
    interruption before the swap leaves the old index as it was; one between the two renames
    makes open() raise IndexSchemaMismatch, not guess (open_or_rebuild() then rebuilds).

    Args:
        index_dir: the index directory to replace (created if absent).
        archive: the archive root to read sidecars from (streamed, one folder at a time).
        progress: called after each document with the number indexed so far.
        lock_timeout: seconds to wait for another process's write lock.
        limitmb: megabytes of postings whoosh pools in memory before spilling them to disk.

    Returns:
        The number of documents in the new index.

    Raises:
        ArchiveUnwritable: the archive is not a directory, or the index cannot be written.
        IndexLocked: another process held the write lock past the timeout.
    """
    index_dir, archive = Path(index_dir), Path(archive)
    if not archive.is_dir():
        # Refuse rather than swap in an empty index over a good one (an unmounted share, a typo).
        raise ArchiveUnwritable(f"cannot rebuild the search index: the archive {archive} is not a directory")
    new, old = _sibling(index_dir, ".rebuild"), _sibling(index_dir, ".old")
    try:
        index_dir.parent.mkdir(parents=True, exist_ok=True)
        # Two rebuilds at once would share `.rebuild`; the live index's lock alone does not stop
        # that when there is no live index yet.
        with _hold_lock(index_dir.parent, f".{index_dir.name}.rebuild.lock", lock_timeout, index_dir):
            with _hold_write_lock(index_dir, lock_timeout):
                shutil.rmtree(new, ignore_errors=True)  # left by an interrupted rebuild
                try:
                    count = _build(new, archive, progress, limitmb)
                    _write_version(new)
                except BaseException:
                    shutil.rmtree(new, ignore_errors=True)
                    raise
                if old.exists() and index_dir.exists():
                    shutil.rmtree(old)
                if index_dir.exists():
                    os.rename(index_dir, old)
                os.rename(new, index_dir)
    except OSError as exc:
        raise ArchiveUnwritable(f"cannot rebuild the search index in {index_dir}: {exc}") from exc
    shutil.rmtree(old, ignore_errors=True)
    if old.exists():
        log.warning("could not delete the previous index %s; delete it by hand", old)
    log.info("rebuilt the search index %s: %d document(s)", index_dir, count)
    return count


def open_or_rebuild(
    index_dir: Path,
    archive: Path,
    *,
    progress_bar: Callable[[], AbstractContextManager[Callable[[int], None]]] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    create: bool = True,
) -> IndexStore:
    """Open the index; one built for another schema version, or left mid-swap, is rebuilt first.

    A damaged index (unreadable files, no version) is not: it raises, so that a person looks
    at it before anything is deleted (``signoff reindex`` rebuilds it on purpose).

    Args:
        index_dir: the index directory.
        archive: the archive to rebuild from.
        progress_bar: makes a progress bar (a context manager giving ``update(n)``), only when
            a rebuild is needed: counting the archive's sidecars for it takes a walk.
        lock_timeout: seconds to wait for another process's write lock.
        create: create an empty index where there is none (else raise IndexMissing).

    Raises:
        IndexSchemaMismatch: the index is damaged.
        IndexMissing: there is no index and ``create`` is False.
        ArchiveUnwritable: the index cannot be created, read or rebuilt.
    """
    try:
        return IndexStore.open(index_dir, lock_timeout=lock_timeout, create=create)
    except IndexSchemaMismatch as exc:
        if exc.found is None and not _sibling(Path(index_dir), ".old").exists():
            raise
        log.warning("%s; rebuilding it from %s", exc.message, archive)
    with progress_bar() if progress_bar is not None else nullcontext(None) as update:
        rebuild(index_dir, archive, progress=update, lock_timeout=lock_timeout)
    return IndexStore.open(index_dir, create=False, lock_timeout=lock_timeout)
