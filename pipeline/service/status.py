"""`signoff status`: what is waiting, in flight, filed today, quarantined and set aside, and the last error."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.errors import PipelineError
from pipeline.folders import DUPLICATES_FOLDER
from pipeline.service.journal import Journal, journal_path, printable
from pipeline.service.watcher import InboxRules
from pipeline.settings import Settings, redact_url

__all__ = ["build_status", "render_status"]

STALE_AFTER = 60.0  # seconds without a heartbeat before a run counts as gone (HEARTBEAT is 10)


def _count(folder: Path, suffix: str) -> int:
    if not folder.is_dir():
        return 0
    return sum(1 for _, _, names in os.walk(folder) for n in names if n.endswith(suffix))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_status(settings: Settings, now: datetime | None = None) -> dict[str, Any]:
    """The service's state from its journal and the inbox, quarantine and duplicates folders."""
    now = now or datetime.now().astimezone()
    day = now.strftime("%Y-%m-%d")
    archive = settings.archive
    journal = Journal.open_readonly(journal_path(archive))
    counts: dict[str, Any] = {}
    if journal is not None:
        try:
            counts = journal.counts(day)
        finally:
            journal.close()
    run = counts.get("run")
    running = False
    if run and not run["stopped_at"]:
        beat = datetime.fromisoformat(run["beat_at"])
        running = _alive(int(run["pid"])) and (now - beat).total_seconds() < STALE_AFTER
    in_flight_paths = {settings.inbox / p for p in counts.get("in_flight_paths", [])}
    waiting, oldest = 0, None
    if settings.inbox.is_dir():
        rules = InboxRules(settings.inbox, own=[archive])
        for path, st in rules.walk():
            if path in in_flight_paths:
                continue
            waiting += 1
            oldest = st.st_mtime if oldest is None else min(oldest, st.st_mtime)
    quarantine = archive / "_quarantine"
    duplicates = archive / DUPLICATES_FOLDER
    by_state = counts.get("in_flight", {})
    return {
        "inbox": str(settings.inbox),
        "archive": str(archive),
        "service": {
            "running": running,
            "pid": run["pid"] if run else None,
            "mode": run["mode"] if run else None,
            "started_at": run["started_at"] if run else None,
            "last_seen": run["beat_at"] if run else None,
            "stopped_at": run["stopped_at"] if run else None,
        },
        "waiting": waiting,
        "oldest_waiting_seconds": round(time.time() - oldest) if oldest is not None else None,
        "in_flight": sum(by_state.values()),
        "in_flight_by_state": by_state,
        # The files being read page by page, as of the service's last heartbeat (every 10 s).
        "reading": counts.get("reading", []) if running else [],
        "filed_today": {"files": counts.get("filed_files", 0), "sheets": counts.get("filed_sheets", 0)},
        "quarantined": {"today": _count(quarantine / day, ".reason.json"), "total": _count(quarantine, ".reason.json")},
        "duplicates": {"today": _count(duplicates / day, ".duplicate.json"), "total": _count(duplicates, ".duplicate.json")},
        "last_error": counts.get("last_error"),
        "day": day,
        **_readers(settings, counts.get("pool") if running else None),
    }


def _readers(settings: Settings, recorded: dict[str, Any] | None) -> dict[str, Any]:
    """Who reads: the executor, its queue's depth and the workers seen.

    The local pool's, as the running service last recorded them (its heartbeat, every 10 s); the
    celery executor's, asked of the broker now (a second at most: it may be down).
    """
    if settings.executor != "celery":
        rec = recorded or {}
        return {
            "executor": "local",
            "queue": {"depth": int((rec.get("queue") or {}).get("depth") or 0)},
            "workers": list(rec.get("workers") or []),
            "broker": None,
        }
    broker: dict[str, Any] = {"url": redact_url(settings.broker or ""), "reachable": False, "error": None}
    out: dict[str, Any] = {"executor": "celery", "queue": {"depth": None}, "workers": [], "broker": broker}
    try:
        from pipeline.service.celery_app import Board

        board = Board(settings.broker or "", timeout=1.0)
    except PipelineError as exc:  # the celery extra is not installed
        broker["error"] = exc.message
        return out
    try:
        out["queue"]["depth"] = board.depth()
        out["workers"] = [{"name": node, **_worker(w)} for node, w in sorted(board.workers().items())]
        broker["reachable"] = True
    except Board.errors as exc:
        broker["error"] = f"broker unreachable: {exc}"
    finally:
        board.close()
    return out


def _worker(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("host", "pid", "seen", "reading", "pages")}


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _render_readers(st: dict[str, Any]) -> list[tuple[str, str]]:
    """The executor, queue and workers rows."""
    broker = st.get("broker")
    if broker is None:
        executor = "local (reading processes of `signoff watch`)"
        queue = f"{st['queue']['depth']} file(s) given to the readers, not begun"
    else:
        executor = f"celery, broker {broker['url']}" + ("" if broker["reachable"] else f": {broker['error']}")
        depth = st["queue"]["depth"]
        queue = "unknown (broker unreachable)" if depth is None else f"{depth} task(s) waiting for a worker"
    workers = st["workers"]
    seen = "; ".join(
        f"{w['name']}" + (f" (reading {w['reading']})" if w.get("reading") else "") for w in workers
    )
    return [("executor", executor), ("queue", queue), ("workers", f"{len(workers)}" + (f": {seen}" if seen else ""))]


def render_status(st: dict[str, Any]) -> str:
    """The status as lines of text for a person."""
    svc = st["service"]
    if svc["running"]:
        service = f"running (pid {svc['pid']}, {svc['mode']}, since {svc['started_at']}, last seen {svc['last_seen']})"
    elif svc["pid"] is None:
        service = "has never run on this archive"
    elif svc["stopped_at"]:
        service = f"not running (last run stopped {svc['stopped_at']})"
    else:
        service = f"not running (last run, pid {svc['pid']}, was last seen {svc['last_seen']}: it did not stop cleanly)"
    waiting = f"{st['waiting']} file(s) in {st['inbox']}"
    if st["oldest_waiting_seconds"] is not None:
        waiting += f" (oldest {_ago(st['oldest_waiting_seconds'])})"
    flight = str(st["in_flight"])
    if st["in_flight"]:
        flight += " (" + ", ".join(f"{k} {v}" for k, v in sorted(st["in_flight_by_state"].items())) + ")"
        if not svc["running"]:
            flight += ": interrupted; the next start resumes them"
    reading = ", ".join(f"{r['name']} ({r['pages_read']} of {r['pages_total']} pages)" for r in st.get("reading", []))
    readers = _render_readers(st)
    err = st["last_error"]
    last = "none" if not err else f"{err['at']} {printable(err['source'] or '')}: {err['message']}".strip()
    rows = [
        ("service", service),
        ("waiting", waiting),
        ("in flight", flight),
        *([("reading", reading)] if reading else []),
        *readers,
        ("filed today", f"{st['filed_today']['files']} file(s), {st['filed_today']['sheets']} sheet(s)"),
        ("quarantined", f"{st['quarantined']['today']} today, {st['quarantined']['total']} in all"),
        ("duplicates", f"{st['duplicates']['today']} today, {st['duplicates']['total']} in all"),
        ("last error", last),
    ]
    return "\n".join(f"{k:<12} {v}" for k, v in rows)
