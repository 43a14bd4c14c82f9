"""`signoff verify`: rehash every filed document against its sidecar; the index against the archive; leftovers."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ArchiveUnwritable
from pipeline.filing import is_temp_name, leftover_temp_files
from pipeline.folders import DUPLICATES_FOLDER, is_document_folder
from pipeline.ingest import sha256_file
from pipeline.service.journal import printable
from pipeline.settings import Settings

__all__ = ["Problem", "VerifyReport", "verify_archive"]

log = logging.getLogger(__name__)

# Every entry in the index, rescans' older versions too (the query language is the index's only door).
_ALL_ENTRIES = ("version:all (kind:signoff OR kind:other)", "kind:signoff OR kind:other")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in the archive.

    kind: ``changed`` (the PDF's hash is not its sidecar's), ``missing`` (a sidecar without its
    PDF), ``unexpected`` (a file that should not be there, e.g. a PDF without a sidecar),
    ``bad_sidecar`` (unreadable JSON), ``temp`` (a temporary file a crash left),
    ``not_indexed`` (filed but not searchable), ``index_orphan`` (an index entry whose file is
    gone), ``index`` (the index cannot be read).
    """

    kind: str
    path: str  # archive-relative
    detail: str
    repaired: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"problem": self.kind, "path": self.path, "detail": self.detail, "repaired": self.repaired}


@dataclass(slots=True)
class VerifyReport:
    """What verify found: documents checked, index entries, problems (some maybe repaired)."""

    documents: int = 0
    indexed: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(p.repaired for p in self.problems)


def _walk(folder: Path) -> Iterator[Path]:
    """Every file under a folder, symbolic links included as themselves, never followed."""
    for root, dirnames, filenames in os.walk(folder):
        base = Path(root)
        for d in list(dirnames):
            if (base / d).is_symlink():
                yield base / d
                dirnames.remove(d)
        for name in filenames:
            yield base / name


def verify_archive(settings: Settings, *, repair: bool = False) -> VerifyReport:
    """Check every filed document, the index and the side folders.

    Args:
        settings: where the archive is.
        repair: index what is filed but not indexed, drop index entries without a file, and
            delete temporary files crashes left. Changed or missing documents are never
            "repaired": a person must look at them.

    Raises:
        ArchiveUnwritable: the archive does not exist.
    """
    archive = settings.archive
    if not archive.is_dir():
        raise ArchiveUnwritable(f"there is no archive at {archive}", stage="verify")
    report = VerifyReport()
    problems = report.problems
    rel = lambda p: printable(p.relative_to(archive).as_posix())  # noqa: E731
    filed: dict[str, dict[str, Any]] = {}  # pdf path -> sidecar
    on_disk: set[str] = set()  # every PDF in the document folders, whatever its sidecar says
    tops = sorted(p for p in archive.iterdir() if p.is_dir() and not p.is_symlink() and is_document_folder(p.name))
    for top in tops:
        for path in _walk(top):
            name = path.name
            if is_temp_name(name):
                continue  # below, with the rest of the archive's
            if path.is_symlink():
                problems.append(Problem("unexpected", rel(path), "a symbolic link in the archive"))
            elif name.startswith("."):
                continue  # a file manager's own (.DS_Store)
            elif name.endswith(".pdf"):
                on_disk.add(rel(path))
                if not path.with_suffix(".json").is_file():
                    problems.append(Problem("unexpected", rel(path), "a PDF without its sidecar (.json)"))
            elif name.endswith(".json"):
                _check_document(path, rel, filed, problems)
                report.documents += 1
            else:
                problems.append(Problem("unexpected", rel(path), "not a filed document or its sidecar"))
    _check_side_folder(archive / "_quarantine", ".reason.json", rel, problems)
    _check_side_folder(archive / DUPLICATES_FOLDER, ".duplicate.json", rel, problems)
    for tmp in leftover_temp_files(archive):
        done = False
        if repair:
            try:
                tmp.unlink()
                done = True
            except OSError as exc:
                log.warning("cannot delete %s: %s", tmp, exc)
        problems.append(Problem("temp", rel(tmp), "a temporary file an interrupted writer left", done))
    _check_index(settings, filed, on_disk, report, repair)
    return report


def _check_document(side: Path, rel: Any, filed: dict[str, dict[str, Any]], problems: list[Problem]) -> None:
    pdf = side.with_suffix(".pdf")
    try:
        sidecar = json.loads(side.read_text(encoding="utf-8"))
        expected = sidecar["file"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(Problem("bad_sidecar", rel(side), f"cannot read the sidecar: {exc}"))
        return
    if not pdf.is_file():
        problems.append(Problem("missing", rel(pdf), "the sidecar is there, its PDF is not"))
        return
    actual = sha256_file(pdf)
    if actual != expected:
        problems.append(
            Problem("changed", rel(pdf), f"sha256 {actual[:12]}… is not the sidecar's {str(expected)[:12]}…")
        )
    filed[rel(pdf)] = sidecar


def _check_side_folder(folder: Path, suffix: str, rel: Any, problems: list[Problem]) -> None:
    """Each set-aside file has its record beside it, and each record its file."""
    if not folder.is_dir():
        return
    for path in _walk(folder):
        name = path.name
        if is_temp_name(name) or (name.startswith(".") and not path.is_symlink()):
            continue
        if name.endswith(suffix):
            if not os.path.lexists(path.with_name(name[: -len(suffix)])):
                problems.append(Problem("unexpected", rel(path), "a record without the file it is about"))
        elif not path.with_name(name + suffix).is_file():
            problems.append(Problem("unexpected", rel(path), f"set aside without its {suffix} record"))


def _index_paths(store: Any) -> set[str]:
    for query in _ALL_ENTRIES:
        try:
            paths = {hit.path for hit in store.search(query, limit=None)}
        except ValueError:
            continue
        return paths
    return set()


def _check_index(
    settings: Settings, filed: dict[str, dict[str, Any]], on_disk: set[str], report: VerifyReport, repair: bool
) -> None:
    from pipeline.index import IndexMissing, IndexStore, rebuild

    problems = report.problems
    index_rel = settings.index_dir.relative_to(settings.archive).as_posix()
    try:
        store = IndexStore.open(settings.index_dir, create=False)
    except IndexMissing:
        if not filed:
            return
        fixed = False
        if repair:
            rebuild(settings.index_dir, settings.archive)
            fixed = True
        problems.append(Problem("index", index_rel, "there is no search index; `signoff reindex` builds it", fixed))
        return
    except ArchiveUnwritable as exc:
        problems.append(Problem("index", index_rel, exc.message))
        return
    try:
        indexed = _index_paths(store)
        report.indexed = len(indexed)
        total = store.count()
        if total != len(indexed):
            problems.append(Problem("index", index_rel, f"the index holds {total} entries; {len(indexed)} could be listed"))
        missing = sorted(set(filed) - indexed)
        orphans = sorted(indexed - set(filed) - on_disk)  # a PDF with a bad sidecar is reported above
        found = [Problem("not_indexed", p, "filed, but not in the search index") for p in missing]
        found += [Problem("index_orphan", p, "in the search index, but its file or sidecar is gone") for p in orphans]
        if repair and found:
            if missing:
                store.add([filed[p] for p in missing])
            if orphans:
                store.delete(orphans)
            found = [replace(p, repaired=True) for p in found]
        problems.extend(found)
    finally:
        store.close()
