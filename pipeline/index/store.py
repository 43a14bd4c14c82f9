"""The whoosh search index of the archive: open, add, delete, search and rebuild it.

::

    ArchiveUnwritable (pipeline.errors)
    ├── IndexSchemaMismatch   the index has another schema_version, or is damaged: run rebuild()
    ├── IndexLocked           another process holds the index's write lock
    └── IndexMissing          open(create=False) found no index

The index never recreates itself on error: a version mismatch or a damaged index raises, and
only rebuild() (``signoff reindex``) replaces it, atomically, from the sidecars in the archive.
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
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import Any

import whoosh.index
from whoosh.filedb.filestore import FileStorage
from whoosh.index import FileIndex, LockError
from whoosh.searching import Hit as WhooshHit
from whoosh.writing import IndexWriter

from pipeline.errors import ArchiveUnwritable
from pipeline.index.query import highlight_words, parse_query, snippet
from pipeline.index.schema import SCHEMA, SCHEMA_VERSION, to_document

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "Hit",
    "IndexLocked",
    "IndexMissing",
    "IndexSchemaMismatch",
    "IndexStore",
    "iter_sidecars",
    "rebuild",
]

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT = 30.0  # seconds a writer waits for another process to finish
SENTINEL = "signoff-index.json"  # {"schema_version": N}, written once the index is complete
_INDEX_NAME = "MAIN"  # whoosh's default index name: its files are _MAIN_*.toc, MAIN_WRITELOCK


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

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``signoff search --json``)."""
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
        }


def _to_hit(hit: WhooshHit, words: frozenset[str]) -> Hit:
    stored = hit.fields()
    meta: Mapping[str, Any] = stored.get("meta") or {}
    return Hit(
        path=stored["path"],
        delivery_number=meta.get("delivery_number"),
        customer=meta.get("customer"),
        date=meta.get("date"),
        complete=bool(meta.get("complete")),
        kind=meta.get("kind") or "signoff",
        statuses=dict(meta.get("statuses") or {}),
        snippet=snippet(stored.get("text") or "", words),
        score=float(hit.score or 0.0),
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
            writer = ix.writer(timeout=self.lock_timeout)
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
            for doc in docs.values():
                writer.update_document(**doc)
        log.debug("indexed %d document(s) in %s", len(docs), self.index_dir)
        return len(docs)

    def delete(self, paths: Iterable[str]) -> int:
        """Delete the documents with these archive-relative paths; return how many were deleted."""
        unique = sorted(set(paths))
        if not unique:
            return 0
        with self._writer() as writer:
            return sum(int(writer.delete_by_term("path", path)) for path in unique)

    def search(self, query: str, *, limit: int | None = 10) -> list[Hit]:
        """Return the best ``limit`` matches for a query (syntax: pipeline.index.query), best first.

        Raises:
            ValueError: the query is empty or malformed.
        """
        if limit is not None and limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        q = parse_query(query, SCHEMA)
        with self._index().searcher() as searcher:
            results = searcher.search(q, limit=limit)
            words = highlight_words(q, searcher.reader()) if results.scored_length() else frozenset()
            return [_to_hit(hit, words) for hit in results]

    def count(self) -> int:
        """Return the number of documents in the index."""
        return int(self._index().doc_count())

    def close(self) -> None:
        """Release the index (a closed store reopens on next use)."""
        if self._ix is not None:
            self._ix.close()
            self._ix = None

    def __enter__(self) -> IndexStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _is_customer_folder(name: str) -> bool:
    # `_quarantine`, `_index` and the like are ours; `_unknown` holds sheets with no customer and
    # `_other` pages that are not sign-off sheets: both are filed documents.
    return name in ("_unknown", "_other") or not name.startswith(("_", "."))


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
        tops = sorted(Path(e.path) for e in it if e.is_dir(follow_symlinks=False) and _is_customer_folder(e.name))
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
    lock = FileStorage(str(index_dir)).lock(f"{_INDEX_NAME}_WRITELOCK")
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


def _build(target: Path, archive: Path, progress: Callable[[int], None] | None) -> int:
    """Build a complete index of the archive's sidecars in ``target`` (an empty directory)."""
    ix = _create_index(target)
    writer = ix.writer(limitmb=64)
    count = 0
    try:
        for json_path, sidecar in iter_sidecars(archive):
            # Each sidecar file names a different PDF path, so plain add_document is safe here.
            writer.add_document(**to_document(sidecar, _archive_path(archive, json_path, sidecar)))
            count += 1
            if progress is not None:
                progress(count)
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    ix.close()
    return count


def rebuild(
    index_dir: Path,
    archive: Path,
    *,
    progress: Callable[[int], None] | None = None,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> int:
    """Rebuild the index from every sidecar in the archive, then swap it in.

    The new index is built in ``<index_dir>.rebuild`` beside the old one while the old one's
    write lock is held; then the old one is renamed to ``<index_dir>.old``, the new one renamed
    into place and the old one deleted. An interruption before the swap leaves the old index
    as it was; one between the two renames makes open() raise IndexSchemaMismatch, not guess.

    Args:
        index_dir: the index directory to replace (created if absent).
        archive: the archive root to read sidecars from (streamed, one at a time).
        progress: called after each document with the number indexed so far.
        lock_timeout: seconds to wait for another process's write lock.

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
        with _hold_write_lock(index_dir, lock_timeout):
            shutil.rmtree(new, ignore_errors=True)  # left by an interrupted rebuild
            try:
                count = _build(new, archive, progress)
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
