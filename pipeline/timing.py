"""Per-stage wall time of this process, for the throughput benchmark; off (and free) unless asked for.

``SIGNOFF_TIMING=DIR`` in the environment switches it on when this module is first imported: every
``with stage("ocr"):`` then adds its seconds to the process's totals, and the process writes them to
``DIR/stages-<pid>.json`` when it exits (``{"pid": 123, "stages": {"ocr": {"seconds": 1.5, "calls": 3}}}``).
Stages may nest; a stage's seconds exclude those of the stages inside it, so the totals add up to the
time spent in any stage. Off, ``stage()`` returns one shared no-op context manager.

Only processes that exit normally write their file (``os._exit``, as multiprocessing's workers use,
skips it). ``signoff process``'s page readers (pipeline.parallel) send their totals back with each
page and start again from nothing; the main process ``add``s them to its own, so its one file holds
every process's seconds.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

__all__ = ["ENV", "Totals", "add", "disable", "enable", "enabled", "reset", "stage", "totals", "write"]

ENV = "SIGNOFF_TIMING"

Totals = dict[str, dict[str, float | int]]  # stage name -> {"seconds", "calls"}, as totals() returns

_NOOP: AbstractContextManager[None] = contextlib.nullcontext()
_on = False
_seconds: dict[str, float] = {}
_calls: dict[str, int] = {}
_inner: list[float] = []  # per open stage: seconds spent in the stages opened inside it
_out_dir: Path | None = None


@contextlib.contextmanager
def _timed(name: str) -> Iterator[None]:
    _inner.append(0.0)
    start = time.perf_counter()
    try:
        yield
    finally:
        spent = time.perf_counter() - start
        nested = _inner.pop()
        _seconds[name] = _seconds.get(name, 0.0) + spent - nested
        _calls[name] = _calls.get(name, 0) + 1
        if _inner:
            _inner[-1] += spent


def stage(name: str) -> AbstractContextManager[None]:
    """Count the wall time of the ``with`` block as stage ``name`` (nothing at all when timing is off)."""
    return _timed(name) if _on else _NOOP


def enabled() -> bool:
    """True when stages are being timed."""
    return _on


def enable(out_dir: Path | None = None) -> None:
    """Start timing stages; with ``out_dir``, write the totals there when the process exits."""
    global _on, _out_dir
    _on = True
    if out_dir is not None and _out_dir is None:
        atexit.register(_write_at_exit)
    _out_dir = out_dir if out_dir is not None else _out_dir


def disable() -> None:
    """Stop timing stages (the totals so far are kept; the file is still written at exit)."""
    global _on
    _on = False


def reset() -> None:
    """Forget the totals so far."""
    _seconds.clear()
    _calls.clear()
    _inner.clear()


def totals() -> Totals:
    """Stage name -> {"seconds", "calls"}, in the order the stages were first entered."""
    return {name: {"seconds": round(s, 6), "calls": _calls[name]} for name, s in _seconds.items()}


def add(other: Totals) -> None:
    """Add another process's ``totals()`` to this one's (a page reader's, sent back with its page)."""
    for name, row in other.items():
        _seconds[name] = _seconds.get(name, 0.0) + float(row["seconds"])
        _calls[name] = _calls.get(name, 0) + int(row["calls"])


def write(out_dir: Path) -> Path:
    """Write this process's totals to ``out_dir/stages-<pid>.json`` and return the path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"stages-{os.getpid()}.json"
    path.write_text(json.dumps({"pid": os.getpid(), "stages": totals()}), encoding="utf-8")
    return path


def _write_at_exit() -> None:
    if _out_dir is not None and _seconds:
        try:
            write(_out_dir)
        except OSError as exc:  # a benchmark aid: say so, but never turn a good run's exit into a traceback
            print(f"signoff: stage timings not written to {_out_dir}: {exc}", file=sys.stderr)


if os.environ.get(ENV):
    enable(Path(os.environ[ENV]))
