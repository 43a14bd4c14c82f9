"""Watching the inbox: which files count, when a file is whole, and the observer that says something changed."""

from __future__ import annotations

import fnmatch
import logging
import os
import queue
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserverVFS

__all__ = ["IGNORED_DIRS", "IGNORED_FILES", "InboxRules", "InboxWatcher", "SettleTracker", "looks_complete"]

log = logging.getLogger(__name__)

# Compared case-insensitively: Windows scanners and Explorer write THUMBS.DB and Foo.TMP too.
IGNORED_FILES = (".*", "~$*", "*.part", "*.tmp", "*.crdownload", "thumbs.db", "desktop.ini")
IGNORED_DIRS = (".*", "@eadir", "__macosx", ".stfolder")  # .DS_Store and hidden folders fall under .*


def _matches(name: str, patterns: Iterable[str]) -> bool:
    folded = name.casefold()
    return any(fnmatch.fnmatchcase(folded, pat) for pat in patterns)


class InboxRules:
    """Which paths in the inbox are scans to take: not hidden, temporary or ours, never through a link."""

    def __init__(self, inbox: Path, own: Iterable[Path] = ()) -> None:
        """Args:
        inbox: the inbox, absolute.
        own: folders the product writes itself (the archive); ignored if they are inside the inbox.
        """
        self.inbox = Path(os.path.abspath(inbox))
        self.own = tuple(Path(os.path.abspath(p)) for p in own)

    def relative(self, path: Path) -> Path | None:
        """The path relative to the inbox, or None when it is not inside it."""
        try:
            rel = Path(os.path.abspath(path)).relative_to(self.inbox)
        except ValueError:
            return None
        return rel if rel.parts else None

    def ignored(self, path: Path, *, is_dir: bool = False) -> bool:
        """Whether a path is left alone: outside the inbox, hidden, temporary, system junk or ours."""
        rel = self.relative(path)
        if rel is None:
            return True
        if any(_matches(part, IGNORED_DIRS) for part in rel.parts[:-1]):
            return True
        if _matches(rel.name, IGNORED_DIRS if is_dir else IGNORED_FILES):
            return True
        absolute = self.inbox / rel
        return any(absolute == own or own in absolute.parents for own in self.own)

    def walk(self, folder: Path | None = None) -> Iterator[tuple[Path, os.stat_result]]:
        """Every file and symbolic link under a folder of the inbox that is not ignored.

        Symbolic links are yielded as links (their own lstat) and never followed, so nothing
        outside the inbox is ever reached through one. FIFOs, sockets and devices are skipped.
        """
        folder = self.inbox if folder is None else folder
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except (FileNotFoundError, NotADirectoryError):
            return
        except PermissionError as exc:
            log.warning("cannot look into %s: %s", folder, exc.strerror)
            return
        for entry in entries:
            path = Path(entry.path)
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if not self.ignored(path, is_dir=True):
                    yield from self.walk(path)
            elif (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and not self.ignored(path):
                yield path, st


# Where each kind of file says it is finished; a young file without it is still being written.
_TRAILERS: dict[bytes, tuple[bytes, int]] = {
    b"%PDF-": (b"%%EOF", 2048),
    b"\x89PNG\r\n\x1a\n": (b"IEND", 64),
    b"\xff\xd8\xff": (b"\xff\xd9", 16384),  # cameras may append metadata after the image's end
}


def looks_complete(path: Path) -> bool:
    """Whether a file looks whole: not empty, and a PDF, PNG or JPEG ends with its trailer.

    Only a hint for young files (a scanner may pause mid-file longer than the settle delay);
    a file that never looks complete is read anyway once it is old. TIFF has no trailer.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
            if not head:
                return False
            for magic, (trailer, span) in _TRAILERS.items():
                if head.startswith(magic):
                    size = os.fstat(fh.fileno()).st_size
                    fh.seek(max(0, size - span))
                    return trailer in fh.read(span)
    except OSError:
        return False
    return True


@dataclass(slots=True)
class _Seen:
    size: int
    mtime_ns: int
    changed: float  # clock time of the last event or observed change
    not_before: float = 0.0  # not taken before this clock time (a retry or a young file)


class SettleTracker:
    """Files seen in the inbox, in order of arrival, until each is whole and taken, once.

    A file is ready when it had no event for `settle` seconds and its size and modification
    time are what they were then. Once taken it is never ready again, whatever events arrive,
    until release() hands it back (a retry) or it is gone.
    """

    def __init__(
        self,
        settle: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        lstat: Callable[[Path], os.stat_result] = os.lstat,
    ) -> None:
        self.settle = settle
        self._clock = clock
        self._lstat = lstat
        self._files: dict[Path, _Seen] = {}  # insertion order is the order they were seen
        self._taken: set[Path] = set()

    def __len__(self) -> int:
        """How many files are waiting (seen, not taken)."""
        return len(self._files)

    def __contains__(self, path: object) -> bool:
        return path in self._files or path in self._taken

    @property
    def taken(self) -> frozenset[Path]:
        return frozenset(self._taken)

    def event(self, path: Path) -> None:
        """Something happened to a file (created, written, moved here): its settle delay restarts."""
        if path in self._taken:
            return
        try:
            st = self._lstat(path)
        except OSError:
            self._files.pop(path, None)
            return
        self._note(path, st, restart=True)

    def seen(self, path: Path, st: os.stat_result) -> None:
        """A look at the inbox found this file: start watching it, or restart it if it changed."""
        if path not in self._taken:
            self._note(path, st, restart=False)

    def _note(self, path: Path, st: os.stat_result, *, restart: bool) -> None:
        now = self._clock()
        known = self._files.get(path)
        if known is None:
            self._files[path] = _Seen(st.st_size, st.st_mtime_ns, now)
        elif (known.size, known.mtime_ns) != (st.st_size, st.st_mtime_ns):
            known.size, known.mtime_ns, known.changed, known.not_before = st.st_size, st.st_mtime_ns, now, 0.0
        elif restart:
            known.changed = now

    def forget(self, path: Path) -> None:
        """The file is gone (deleted or moved away) before it was taken."""
        self._files.pop(path, None)

    def ready(self, limit: int) -> list[tuple[Path, os.stat_result]]:
        """Take up to `limit` whole files, in order of arrival; each is then taken until released.

        Arrival is the file's modification time (when it was last written: a file found by a walk
        of a new folder does not jump ahead of one whose event is still queued), then the order in
        which files were seen.
        """
        out: list[tuple[Path, os.stat_result]] = []
        if limit <= 0:
            return out
        now = self._clock()
        settled = [
            (known.mtime_ns, n, path)
            for n, (path, known) in enumerate(self._files.items())
            if now >= known.not_before and now - known.changed >= self.settle
        ]
        settled.sort()
        for _, _, path in settled:
            known = self._files[path]
            try:
                st = self._lstat(path)
            except FileNotFoundError:
                del self._files[path]
                continue
            except OSError:
                continue
            if (st.st_size, st.st_mtime_ns) != (known.size, known.mtime_ns):
                known.size, known.mtime_ns, known.changed, known.not_before = st.st_size, st.st_mtime_ns, now, 0.0
                continue
            del self._files[path]
            self._taken.add(path)
            out.append((path, st))
            if len(out) >= limit:
                break
        return out

    def release(self, path: Path, *, after: float = 0.0) -> None:
        """Hand a taken file back: if it is still there it is watched again, not taken for `after` s.

        A retry waits `after` seconds unless the file changes, which makes it new again.
        """
        self._taken.discard(path)
        try:
            st = self._lstat(path)
        except OSError:
            return
        now = self._clock()
        self._files[path] = _Seen(st.st_size, st.st_mtime_ns, now, now + after)

    def done(self, path: Path) -> None:
        """A taken file is finished with (filed, quarantined, set aside): forget it."""
        self._taken.discard(path)
        self._files.pop(path, None)


class _Handler(FileSystemEventHandler):
    def __init__(self, sink: queue.SimpleQueue[tuple[str, Path]]) -> None:
        self._sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Opening or reading a file (our own hashing and reading too) changes nothing.
        if event.event_type in ("opened", "closed_no_write"):
            return
        kind = "dir" if event.is_directory else "file"
        src = Path(os.fsdecode(event.src_path))
        if event.event_type == "deleted":
            self._sink.put(("gone", src))
        elif event.event_type == "moved":
            self._sink.put(("gone", src))
            self._sink.put((kind, Path(os.fsdecode(event.dest_path))))
        else:
            self._sink.put((kind, src))


class InboxWatcher:
    """watchdog's observer on the inbox and its sub-folders: native events, or polling every `poll` s."""

    def __init__(self, inbox: Path, poll: float = 0.0) -> None:
        self.inbox = inbox
        self.poll = poll
        self._events: queue.SimpleQueue[tuple[str, Path]] = queue.SimpleQueue()
        self._observer: BaseObserver | None = None

    def start(self) -> None:
        if self.poll > 0:
            # lstat, so the polling walk never goes through a linked folder out of the inbox.
            observer: BaseObserver = PollingObserverVFS(os.lstat, os.scandir, polling_interval=self.poll)
        else:
            observer = Observer()
        observer.schedule(_Handler(self._events), str(self.inbox), recursive=True)
        observer.daemon = True
        observer.start()
        self._observer = observer
        log.debug("watching %s with %s", self.inbox, type(observer).__name__)

    def alive(self) -> bool:
        return self._observer is not None and self._observer.is_alive()

    def drain(self, limit: int = 100_000) -> list[tuple[str, Path]]:
        """Events since the last call: ("file" | "dir" | "gone", path)."""
        out = []
        while len(out) < limit:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                break
        return out

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            if self._observer.is_alive():
                self._observer.join(timeout=5)
            self._observer = None
