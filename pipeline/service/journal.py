"""The journal: a small SQLite file of each file taken from the inbox and what became of it, so a restart resumes.

A file's row goes ``reading`` → ``filing`` (sheets recorded one by one as they land; then it
waits for its batch's index commit) → ``indexed`` → ``filed``; or ends ``duplicate``,
``quarantined``, ``released`` (handed back to the inbox untouched: nothing was written) or
``gone`` (it vanished from the inbox). Rows still in
``reading``, ``filing`` or ``indexed`` from an earlier run were interrupted: the writer's
recovery finishes or resumes them.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.errors import ArchiveUnwritable

__all__ = ["IN_FLIGHT", "Entry", "Journal", "STATE_FOLDER", "journal_path"]

STATE_FOLDER = "_state"
IN_FLIGHT = ("reading", "filing", "indexed")
FINAL = ("filed", "duplicate", "quarantined", "released", "gone")
KEEP_DAYS = 90  # finished rows older than this are pruned at start

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files(
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL,          -- inbox-relative, the file system's own bytes
    name TEXT NOT NULL,          -- the same, printable
    sha256 TEXT,
    size INTEGER,
    mtime_ns INTEGER,
    state TEXT NOT NULL,
    resume INTEGER NOT NULL DEFAULT 0,  -- sheets of it may be filed already
    docs INTEGER,                -- sheets the reading found
    reason TEXT,
    message TEXT,
    detail TEXT,                 -- quarantine or duplicate location, or the PDF it repeats
    run INTEGER NOT NULL,
    taken_at TEXT NOT NULL,
    done_at TEXT,
    done_day TEXT
);
CREATE INDEX IF NOT EXISTS files_sha ON files(sha256);
CREATE INDEX IF NOT EXISTS files_state ON files(state);
CREATE INDEX IF NOT EXISTS files_day ON files(done_day);
CREATE TABLE IF NOT EXISTS sheets(
    file_id INTEGER NOT NULL REFERENCES files(id),
    pdf TEXT NOT NULL,           -- archive-relative
    outcome TEXT NOT NULL,       -- filed, rescan or duplicate (already there)
    PRIMARY KEY(file_id, pdf)
);
CREATE TABLE IF NOT EXISTS planned(
    file_id INTEGER NOT NULL REFERENCES files(id),
    folder TEXT NOT NULL,        -- archive-relative folder a sheet is filed into
    stem TEXT NOT NULL,          -- its file name without version or .pdf
    PRIMARY KEY(file_id, folder, stem)
);
CREATE TABLE IF NOT EXISTS errors(
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    name TEXT,
    message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reading(
    file_id INTEGER PRIMARY KEY REFERENCES files(id),  -- a file being read page by page
    pages_read INTEGER NOT NULL,
    pages_total INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS pool(
    id INTEGER PRIMARY KEY CHECK (id = 1),
    state TEXT NOT NULL          -- JSON: the readers as of the last heartbeat (executor, queue, workers)
);
CREATE TABLE IF NOT EXISTS runs(
    id INTEGER PRIMARY KEY,
    pid INTEGER NOT NULL,
    mode TEXT NOT NULL,
    started_at TEXT NOT NULL,
    beat_at TEXT NOT NULL,
    stopped_at TEXT
);
"""


def journal_path(archive: Path) -> Path:
    return archive / STATE_FOLDER / "journal.sqlite"


def _now() -> datetime:
    return datetime.now().astimezone()


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def printable(rel: Path | str) -> str:
    """A path (or a message quoting one) as text safe in one log line: odd bytes and control characters escaped."""
    text = os.fsencode(rel).decode("utf-8", "backslashreplace")
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def _text(value: str | None) -> str | None:
    """Text SQLite can store: a message may quote a file name that is not UTF-8."""
    return None if value is None else value.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True, slots=True)
class Entry:
    """One file taken from the inbox."""

    id: int
    rel: Path  # inbox-relative
    sha256: str | None
    resumed: bool  # an interrupted filing of the same content: some sheets may be filed already

    @property
    def name(self) -> str:
        return printable(self.rel)


@dataclass(frozen=True, slots=True)
class Interrupted:
    """A row an earlier run left in flight."""

    id: int
    rel: Path
    sha256: str | None
    state: str
    docs: int | None
    sheets: tuple[str, ...]
    planned: tuple[tuple[str, str], ...]


class Journal:
    """The journal file, open for one process. Each call is its own durable transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path, run: int | None = None) -> None:
        self._db = conn
        self.path = path
        self.run = run

    @classmethod
    def open(cls, path: Path) -> Journal:
        """Open (or create) the journal for writing.

        Raises:
            ArchiveUnwritable: the state folder or the journal cannot be written.
        """
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # a row says "filed" only once that is on disk
            conn.executescript(f"BEGIN IMMEDIATE;\n{_SCHEMA}\nCOMMIT;")  # all tables, or none yet
        except (OSError, sqlite3.Error) as exc:
            raise ArchiveUnwritable(f"cannot write the journal {path}: {exc}", stage="watch") from None
        return cls(conn, path)

    @classmethod
    def open_readonly(cls, path: Path) -> Journal | None:
        """Open the journal to look at it (`signoff status`); None if there is none yet."""
        if not path.is_file():
            return None
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=10)
            conn.execute("SELECT 1 FROM runs LIMIT 1")  # the last table the schema makes
        except sqlite3.Error:
            return None
        return cls(conn, path)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise ArchiveUnwritable(f"cannot write the journal {self.path}: {exc}", stage="watch") from None

    # -- runs ----------------------------------------------------------------------------------
    def begin_run(self, mode: str) -> int:
        """Start a run; rows in flight from earlier runs are now interrupted. Old rows are pruned."""
        now = _now()
        cutoff = (now - timedelta(days=KEEP_DAYS)).strftime("%Y-%m-%d")
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO runs(pid, mode, started_at, beat_at) VALUES (?, ?, ?, ?)",
                (os.getpid(), mode, _iso(now), _iso(now)),
            )
            self.run = int(cur.lastrowid or 0)
            db.execute("DELETE FROM reading")  # an earlier run's, if it did not stop cleanly
            db.execute("DELETE FROM pool")
            old = "SELECT id FROM files WHERE done_day < ?"
            db.execute(f"DELETE FROM sheets WHERE file_id IN ({old})", (cutoff,))
            db.execute(f"DELETE FROM planned WHERE file_id IN ({old})", (cutoff,))
            db.execute("DELETE FROM files WHERE done_day < ?", (cutoff,))
            db.execute("DELETE FROM errors WHERE at < ?", (cutoff,))
            db.execute("DELETE FROM runs WHERE started_at < ? AND id <> ?", (cutoff, self.run))
        return self.run

    def heartbeat(
        self, reading: Mapping[int, tuple[int, int]] | None = None, pool: Mapping[str, Any] | None = None
    ) -> None:
        """Mark the run as alive; with ``reading`` (file id -> pages read, pages in all), also say
        how far the files being read page by page have got, and with ``pool`` who reads them
        (reading.Pool.state()): `signoff status` shows both."""
        with self._tx() as db:
            db.execute("UPDATE runs SET beat_at = ? WHERE id = ?", (_iso(_now()), self.run))
            if pool is not None:
                db.execute("INSERT OR REPLACE INTO pool(id, state) VALUES (1, ?)", (json.dumps(pool, default=str),))
            if reading is not None:
                db.execute("DELETE FROM reading")
                db.executemany(
                    "INSERT INTO reading(file_id, pages_read, pages_total) VALUES (?, ?, ?)",
                    [(fid, done, total) for fid, (done, total) in reading.items()],
                )

    def end_run(self) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET stopped_at = ? WHERE id = ?", (_iso(_now()), self.run))
            db.execute("DELETE FROM reading")
            db.execute("DELETE FROM pool")

    # -- one file --------------------------------------------------------------------------------
    def take(self, rel: Path, sha256: str | None, size: int, mtime_ns: int) -> Entry:
        """Record a file taken from the inbox. Content whose filing was interrupted is resumed."""
        raw = os.fsencode(rel)
        with self._tx() as db:
            row = None
            if sha256 is not None:
                row = db.execute(
                    "SELECT id, resume, state FROM files WHERE sha256 = ? AND state IN ('reading', 'filing', 'indexed') "
                    "ORDER BY id DESC LIMIT 1",
                    (sha256,),
                ).fetchone()
            if row is not None:
                resumed = bool(row[1]) or row[2] in ("filing", "indexed")
                db.execute(
                    "UPDATE files SET path = ?, name = ?, size = ?, mtime_ns = ?, state = 'reading', resume = ?, run = ? "
                    "WHERE id = ?",
                    (raw, printable(rel), size, mtime_ns, int(resumed), self.run, row[0]),
                )
                return Entry(int(row[0]), rel, sha256, resumed)
            cur = db.execute(
                "INSERT INTO files(path, name, sha256, size, mtime_ns, state, run, taken_at) "
                "VALUES (?, ?, ?, ?, ?, 'reading', ?, ?)",
                (raw, printable(rel), sha256, size, mtime_ns, self.run, _iso(_now())),
            )
            return Entry(int(cur.lastrowid or 0), rel, sha256, False)

    def filed_pdf(self, sha256: str) -> str | None:
        """The archive-relative PDF of a file with this content that was filed, if any."""
        row = self._db.execute(
            "SELECT s.pdf FROM files f JOIN sheets s ON s.file_id = f.id "
            "WHERE f.sha256 = ? AND f.state = 'filed' ORDER BY f.id, s.rowid LIMIT 1",
            (sha256,),
        ).fetchone()
        return str(row[0]) if row else None

    def filing(self, entry_id: int, docs: int, planned: list[tuple[str, str]]) -> None:
        """Filing starts: say where each sheet will land, so a crash can be cleaned up after."""
        with self._tx() as db:
            db.execute("UPDATE files SET state = 'filing', docs = ? WHERE id = ?", (docs, entry_id))
            db.executemany(
                "INSERT OR IGNORE INTO planned(file_id, folder, stem) VALUES (?, ?, ?)",
                [(entry_id, folder, stem) for folder, stem in planned],
            )

    def sheet(self, entry_id: int, pdf: str, outcome: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO sheets(file_id, pdf, outcome) VALUES (?, ?, ?)", (entry_id, pdf, outcome)
            )

    def indexed(self, entry_id: int) -> None:
        with self._tx() as db:
            db.execute("UPDATE files SET state = 'indexed' WHERE id = ?", (entry_id,))

    def finish(
        self,
        entry_id: int,
        state: str,
        *,
        reason: str | None = None,
        message: str | None = None,
        detail: str | None = None,
    ) -> None:
        """A file is done with: filed, duplicate, quarantined or gone."""
        assert state in FINAL, state
        now = _now()
        with self._tx() as db:
            db.execute(
                "UPDATE files SET state = ?, resume = 0, reason = ?, message = ?, detail = ?, done_at = ?, done_day = ? "
                "WHERE id = ?",
                (state, reason, _text(message), _text(detail), _iso(now), now.strftime("%Y-%m-%d"), entry_id),
            )

    def release(self, entry_id: int) -> None:
        """Hand a file back to the inbox. A row with sheets filed (or resumed) stays resumable."""
        now = _now()
        with self._tx() as db:
            row = db.execute("SELECT state, resume FROM files WHERE id = ?", (entry_id,)).fetchone()
            if row is None:
                return
            state, resume = row
            if state in ("filing", "indexed"):
                return  # the next take of the same content resumes it
            if resume:
                db.execute("UPDATE files SET state = 'filing' WHERE id = ?", (entry_id,))
            else:
                db.execute(
                    "UPDATE files SET state = 'released', done_at = ?, done_day = ? WHERE id = ?",
                    (_iso(now), now.strftime("%Y-%m-%d"), entry_id),
                )

    def error(self, name: str | None, message: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO errors(at, name, message) VALUES (?, ?, ?)", (_iso(_now()), _text(name), _text(message))
            )

    # -- recovery --------------------------------------------------------------------------------
    def interrupted(self) -> list[Interrupted]:
        """Rows an earlier run left in flight, oldest first."""
        rows = self._db.execute(
            "SELECT id, path, sha256, state, docs FROM files WHERE state IN ('reading', 'filing', 'indexed') "
            "AND run < ? ORDER BY id",
            (self.run or 0,),
        ).fetchall()
        out = []
        for fid, raw, sha, state, docs in rows:
            sheets = tuple(r[0] for r in self._db.execute("SELECT pdf FROM sheets WHERE file_id = ? ORDER BY rowid", (fid,)))
            planned = tuple(
                (r[0], r[1]) for r in self._db.execute("SELECT folder, stem FROM planned WHERE file_id = ?", (fid,))
            )
            out.append(Interrupted(fid, Path(os.fsdecode(raw)), sha, state, docs, sheets, planned))
        return out

    def recent_sheets(self, limit: int = 50) -> list[str]:
        """The archive-relative PDFs of the most recently filed files."""
        rows = self._db.execute(
            "SELECT s.pdf FROM sheets s JOIN files f ON f.id = s.file_id WHERE f.state = 'filed' "
            "ORDER BY f.id DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [str(r[0]) for r in rows]

    # -- status ----------------------------------------------------------------------------------
    def counts(self, day: str) -> dict[str, Any]:
        """What `signoff status` shows from the journal, for one day (YYYY-MM-DD)."""
        db = self._db
        in_flight = dict(
            db.execute(
                "SELECT state, COUNT(*) FROM files WHERE state IN ('reading', 'filing', 'indexed') GROUP BY state"
            ).fetchall()
        )
        filed_files, filed_sheets = db.execute(
            "SELECT COUNT(DISTINCT f.id), COUNT(s.pdf) FROM files f LEFT JOIN sheets s ON s.file_id = f.id "
            "WHERE f.state = 'filed' AND f.done_day = ?",
            (day,),
        ).fetchone()
        err = db.execute("SELECT at, name, message FROM errors ORDER BY id DESC LIMIT 1").fetchone()
        run = db.execute("SELECT id, pid, mode, started_at, beat_at, stopped_at FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        names = [
            os.fsdecode(r[0]) for r in db.execute("SELECT path FROM files WHERE state IN ('reading', 'filing', 'indexed')")
        ]
        try:
            pages = db.execute(
                "SELECT f.name, r.pages_read, r.pages_total FROM reading r JOIN files f ON f.id = r.file_id "
                "WHERE f.state = 'reading' ORDER BY f.id"
            ).fetchall()
        except sqlite3.OperationalError:  # a journal no run of this version has opened yet
            pages = []
        try:
            row = db.execute("SELECT state FROM pool WHERE id = 1").fetchone()
            pool = json.loads(row[0]) if row else None
        except (sqlite3.OperationalError, ValueError):  # no pool table yet (an older journal)
            pool = None
        return {
            "in_flight": {k: int(v) for k, v in in_flight.items()},
            "in_flight_paths": names,
            "reading": [{"name": n, "pages_read": int(r), "pages_total": int(t)} for n, r, t in pages],
            "pool": pool if isinstance(pool, dict) else None,
            "filed_files": int(filed_files or 0),
            "filed_sheets": int(filed_sheets or 0),
            "last_error": {"at": err[0], "source": err[1], "message": err[2]} if err else None,
            "run": (
                {"id": run[0], "pid": run[1], "mode": run[2], "started_at": run[3], "beat_at": run[4], "stopped_at": run[5]}
                if run
                else None
            ),
        }

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run a read-only query (tests and `status` look at the journal through this)."""
        return self._db.execute(sql, params).fetchall()
