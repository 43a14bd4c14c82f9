"""Sheets filed but not yet in the index: a note on disk per writing process, until its batch commits.

``signoff process`` indexes in batches, so for a while a filed sheet is in the archive and not in
the index. Before it files a sheet, the process notes the sheet's archive folder in
``archive/_index.unindexed/<pid>-<random>.txt`` (flushed to disk), and holds an ``flock`` on that file,
which the kernel releases when the process dies. Once the batch is committed the note is emptied.
The next process to open the index takes over the notes nobody holds (their writer died) and adds
to the index every sidecar of those folders that it lacks; only then are the notes deleted.
A sheet is only ever indexed after it is filed, so no index entry lacks its file.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from pipeline.index.store import IndexStore

__all__ = ["PendingFolders", "index_unindexed", "pending_dir"]

log = logging.getLogger(__name__)


def pending_dir(index_dir: Path) -> Path:
    """Where the notes of unindexed folders live: beside the index (a rebuild swaps the index folder)."""
    return index_dir.with_name(index_dir.name + ".unindexed")


class PendingFolders:
    """This process's note of the archive folders it filed sheets into since its last commit."""

    def __init__(self, folder: Path) -> None:
        """Remember where notes go; the note file is made on the first folder noted."""
        self.folder = folder
        self._fd: int | None = None
        self._path: Path | None = None
        self._noted: set[str] = set()

    def note(self, archive_folder: str) -> None:
        """Record (on disk, before returning) that sheets are about to be filed in ``archive_folder``.

        Raises:
            OSError: the note cannot be written (the caller must not file the sheet then).
        """
        if archive_folder in self._noted:
            return
        if self._fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Locked under a name recovery ignores, then renamed: no other process ever sees it unheld.
            fd, tmp = tempfile.mkstemp(prefix=f"{os.getpid()}-", suffix=".tmp", dir=self.folder)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._path = Path(tmp).with_suffix(".txt")
            os.rename(tmp, self._path)
            self._fd = fd
        os.write(self._fd, (json.dumps(archive_folder, ensure_ascii=False) + "\n").encode("utf-8"))
        os.fsync(self._fd)
        self._noted.add(archive_folder)

    def committed(self) -> None:
        """Everything noted is in the index now: empty the note."""
        if self._fd is not None and self._noted:
            os.ftruncate(self._fd, 0)
            os.lseek(self._fd, 0, os.SEEK_SET)  # the next note starts the file again, not after a hole
            os.fsync(self._fd)
        self._noted.clear()

    def close(self) -> None:
        """Delete the note (call only once everything noted is committed) and release its lock."""
        if self._fd is None:
            return
        if not self._noted and self._path is not None:
            self._path.unlink(missing_ok=True)  # while still locked: nobody takes it for a dead run's
        os.close(self._fd)
        self._fd = self._path = None


def _read_note(fd: int) -> list[str]:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    folders = []
    for line in b"".join(chunks).decode("utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue  # the last line of a note its writer died writing
        if isinstance(value, str):
            folders.append(value)
    return folders


def _folder_sidecars(archive: Path, rel_folder: str) -> dict[str, dict[str, Any]]:
    """{pdf path: sidecar} of the filed sheets in one archive folder (a PDF with its sidecar beside it)."""
    folder = archive / rel_folder
    try:
        folder.resolve().relative_to(archive.resolve())
        names = sorted(p.name for p in folder.iterdir())
    except (OSError, ValueError):
        return {}
    found: dict[str, dict[str, Any]] = {}
    for name in names:
        if not name.endswith(".json") or name.endswith(".reason.json") or name.startswith("."):
            continue
        pdf = (folder / name).with_suffix(".pdf")
        try:
            sidecar = json.loads((folder / name).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning("skipping sidecar %s: cannot read it as JSON (%s)", folder / name, exc)
            continue
        if not pdf.is_file() or not isinstance(sidecar, dict) or not isinstance(sidecar.get("file"), dict):
            continue
        rel = pdf.relative_to(archive).as_posix()
        # Keyed where the PDF is, whatever the sidecar says, as a rebuild would index it.
        found[rel] = {**sidecar, "file": {**sidecar["file"], "path": rel}}
    return found


def index_unindexed(store: IndexStore, archive: Path) -> int:
    """Index what processes that died between filing and committing left out; return how many sheets.

    Raises:
        ArchiveUnwritable: the index cannot be written (the notes stay for the next try).
    """
    folder = pending_dir(store.index_dir)
    try:
        # A .tmp is a note its writer died making, before it noted anything: unheld, it is deleted.
        notes = sorted(p for p in folder.iterdir() if p.suffix in (".txt", ".tmp"))
    except OSError:
        return 0
    added = 0
    for note in notes:
        try:
            fd = os.open(note, os.O_RDWR)
        except FileNotFoundError:
            continue  # its writer finished and deleted it meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive and will commit
            sidecars: dict[str, dict[str, Any]] = {}
            for rel_folder in _read_note(fd):
                sidecars.update(_folder_sidecars(archive, rel_folder))
            missing = sorted(set(sidecars) - store.known(sidecars))
            if missing:
                store.add([sidecars[p] for p in missing])
                log.warning("indexed %d sheet(s) an interrupted run had filed but not indexed", len(missing))
            added += len(missing)
            note.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return added
