"""Reading the archive for the report: sidecars (only the ones it needs), quarantine and duplicate records.

Sidecars are filed by delivery month, not by the day they were filed, so finding the sheets filed
yesterday means looking at every sidecar's ``processed_at``. Parsing 100,000 sidecars costs
seconds; listing their names costs a tenth of that. A sidecar is renamed into its folder after
its ``processed_at`` is taken, which sets the file's and the folder's modification times; so a
file, or a whole folder, last modified more than a day before the period began (a day of slack
for a file server whose clock runs behind) holds nothing filed in it, and is not read (nor its
files' times looked up). A copy or restore that does not keep file times only makes files look
newer: read, not missed. ``full_scan`` reads every sidecar, for an archive whose times were set
back by hand.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any

from pipeline.filing import safe_name
from pipeline.folders import OTHER_FOLDER, is_document_folder

__all__ = [
    "ArchiveFile",
    "SheetRecord",
    "delivery_key",
    "list_archive",
    "read_duplicates",
    "read_quarantine",
    "read_sheet",
]

log = logging.getLogger(__name__)

_SIDECAR = re.compile(r"(?P<id>.+?)(?:\.v(?P<version>\d+))?\.json")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def delivery_key(text: str) -> str:
    """How delivery numbers are compared: as the archive names their files (safe_name), ignoring case."""
    return safe_name(text.strip(), fallback="X").casefold()


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """A sidecar found in the archive, known by its name alone (nothing read yet)."""

    path: str  # the .json
    rel_pdf: str  # archive-relative PDF path beside it
    key: tuple[str, str]  # ("signoff" | "other", file id ignoring case): the versions of one delivery
    recent: bool  # modified since the time list_archive was given: it may have been filed in the period


@dataclass(frozen=True, slots=True)
class SheetRecord:
    """What the report needs from one sidecar."""

    file: ArchiveFile
    kind: str
    delivery_number: str | None
    customer: str | None
    date: str | None
    complete: bool
    statuses: dict[str, str]
    version: int
    processed_at: datetime  # aware
    filed: date  # processed_at on the office's clock

    @property
    def order(self) -> tuple[datetime, int, str]:
        """Newest last: filed later, then the higher version number."""
        return (self.processed_at, self.version, self.file.rel_pdf)


def list_archive(archive: Path, *, since: float | None = None) -> Iterator[ArchiveFile]:
    """Every sidecar in the customer folders, by name; nothing is parsed.

    Args:
        archive: the archive root.
        since: a time stamp: ``recent`` says whether a file was modified at or after it. Only
            files in folders modified since are looked at: filing renames each file into its
            folder, which moves the folder's time too. None: every file is ``recent``.
    """
    root = os.fspath(archive)
    with os.scandir(root) as it:
        tops = sorted((e.name, e.path) for e in it if e.is_dir(follow_symlinks=False) and is_document_folder(e.name))
    for name, top in tops:
        kind = "other" if name == OTHER_FOLDER else "signoff"
        yield from _walk(top, len(root) + 1, kind, since, _is_recent(top, since))


def _is_recent(path: str, since: float | None) -> bool:
    if since is None:
        return True
    try:
        return os.stat(path, follow_symlinks=False).st_mtime >= since
    except OSError:
        return False


def _walk(folder: str, cut: int, kind: str, since: float | None, folder_recent: bool) -> Iterator[ArchiveFile]:
    # Plain strings, not Path objects, and a stat only where needed: this runs once per file.
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        if not name.endswith(".json"):
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path, cut, kind, since, _is_recent(entry.path, since))
            continue
        m = _SIDECAR.fullmatch(name)
        if m is None or name.endswith((".reason.json", ".duplicate.json")) or not entry.is_file():
            continue
        recent = folder_recent
        if recent and since is not None:
            try:
                recent = entry.stat().st_mtime >= since
            except OSError:  # removed while we looked
                continue
        rel = entry.path[cut:-5].replace(os.sep, "/") + ".pdf"
        yield ArchiveFile(entry.path, rel, (kind, m["id"].casefold()), recent)


def read_sheet(file: ArchiveFile, tz: tzinfo | None) -> SheetRecord | None:
    """Read one sidecar; None (with a warning) when it cannot be used."""
    try:
        with open(file.path, "rb") as fh:
            data = json.loads(fh.read().decode("utf-8"))  # sidecars are UTF-8: no encoding detection
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("report: skipping sidecar %s: cannot read it as JSON (%s)", file.path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("report: skipping sidecar %s: not a JSON object", file.path)
        return None
    try:
        processed = datetime.fromisoformat(str(data["processed_at"]))
    except (KeyError, ValueError):
        log.warning("report: skipping sidecar %s: no valid processed_at", file.path)
        return None
    if processed.tzinfo is None:  # not written by signoff, but read it as local time
        processed = processed.astimezone()
    fields = data.get("fields")
    statuses: dict[str, str] = {}
    if isinstance(fields, dict):
        for name, value in fields.items():
            if isinstance(value, dict) and isinstance(value.get("status"), str):
                statuses[str(name)] = value["status"]
    kind = data.get("kind") if isinstance(data.get("kind"), str) else file.key[0]
    version = data.get("version")
    complete = data.get("complete")
    return SheetRecord(
        file=file,
        kind=kind,
        delivery_number=_text(data.get("delivery_number")),
        customer=_text(data.get("customer")),
        date=_text(data.get("date")),
        complete=complete is True if isinstance(complete, bool) else _complete(kind, data, statuses),
        statuses=statuses,
        version=version if isinstance(version, int) and not isinstance(version, bool) and version > 0 else 1,
        processed_at=processed,
        filed=processed.astimezone(tz).date(),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _complete(kind: str, data: dict[str, Any], statuses: dict[str, str]) -> bool:
    # Only for a sidecar without "complete": the rule of SHEET_FORMAT.md.
    if kind != "signoff" or not _text(data.get("delivery_number")):
        return False
    return all(statuses.get(name, "missing") != "missing" for name in ("customer", "items", "time", "signature"))


def _day_folders(root: Path, since: date, until: date) -> Iterator[tuple[date, Path]]:
    """The ``YYYY-MM-DD`` folders under root within the period, oldest first; none if root is absent."""
    try:
        with os.scandir(root) as it:
            names = sorted(e.name for e in it if e.is_dir(follow_symlinks=False) and _DAY.fullmatch(e.name))
    except FileNotFoundError:
        return
    for name in names:
        try:
            day = date.fromisoformat(name)
        except ValueError:
            continue
        if since <= day <= until:
            yield day, root / name


def _read_record(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("report: cannot read %s (%s)", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def read_quarantine(archive: Path, quarantine: Path, since: date, until: date) -> Iterator[dict[str, Any]]:
    """Each file quarantined in the period: its reason record plus ``day``, ``path`` and ``name``.

    A file without its ``.reason.json`` is listed too, with an empty reason: it is still a file
    someone must look at.
    """
    for day, folder in _day_folders(quarantine, since, until):
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if e.is_file() and not e.name.startswith("."))
        reasons = {n for n in names if n.endswith(".reason.json")}
        for name in names:
            if name in reasons:
                continue
            record = _read_record(folder / f"{name}.reason.json") if f"{name}.reason.json" in reasons else {}
            yield {**record, "day": day, "path": _rel(folder / name, archive), "name": name}
        for reason in sorted(reasons):  # a reason whose file is gone (moved out by hand): still counted
            if reason.removesuffix(".reason.json") not in names:
                record = _read_record(folder / reason)
                yield {**record, "day": day, "path": _rel(folder / reason.removesuffix(".reason.json"), archive),
                       "name": reason.removesuffix(".reason.json")}


def read_duplicates(archive: Path, duplicates: Path, since: date, until: date) -> Iterator[dict[str, Any]]:
    """Each ``<name>.duplicate.json`` recorded in the period, plus ``day`` and ``path``."""
    for day, folder in _day_folders(duplicates, since, until):
        with os.scandir(folder) as it:
            names = sorted(e.name for e in it if e.is_file() and e.name.endswith(".duplicate.json"))
        for name in names:
            record = _read_record(folder / name)
            yield {**record, "day": day, "path": _rel(folder / name.removesuffix(".duplicate.json"), archive)}


def _rel(path: Path, archive: Path) -> str:
    try:
        return path.relative_to(archive).as_posix()
    except ValueError:
        return path.as_posix()
