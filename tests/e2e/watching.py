"""Helpers for running the real `signoff watch` in a subprocess: the process, its inbox and archive, its memory.

Shared by the watch service's end-to-end tests and `scripts/bench_watch.py`; nothing here imports pytest.
"""

from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.samples import degrade, random_sheet, render_sheet

__all__ = [
    "CONFIG",
    "MemoryWatch",
    "Scan",
    "Watch",
    "batch_pdf",
    "filed_pdfs",
    "inbox_files",
    "proc_kb",
    "sheet_scan",
]

# Short delays so a test does not wait out the service's production defaults.
CONFIG = """\
languages = ["eng"]
settle = 1.0
rescan_interval = 2.0
incomplete_timeout = 6.0
workers = 2
"""


@dataclass(frozen=True)
class Scan:
    delivery_number: str
    png: bytes
    pdf: bytes


def sheet_scan(seed: int) -> Scan:
    """One generated sign-off sheet (English, signed, 200 dpi grey), as a PNG and as a one-page PDF."""
    rng = random.Random(seed)
    sheet = random_sheet(rng, language="en", layout="left", signed=True, time_style="printed")
    page = degrade(render_sheet(sheet, dpi=200, rng=rng)[0], rng).convert("L")
    png, pdf = io.BytesIO(), io.BytesIO()
    page.save(png, format="PNG", dpi=(200, 200))
    page.save(pdf, format="PDF", resolution=200)
    return Scan(sheet.delivery_number, png.getvalue(), pdf.getvalue())


def batch_pdf(scans: list[Scan]) -> bytes:
    """One PDF with a page per sheet: a batch from the feeder."""
    import pikepdf

    out = pikepdf.new()
    for s in scans:
        with pikepdf.open(io.BytesIO(s.pdf)) as one:
            out.pages.extend(one.pages)
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


class Watch:
    """`signoff watch --log-json` in its own process, as systemd would run it."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.log = root / f"watch-{time.monotonic_ns()}.log"
        self._fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "watch", "--log-json", *args],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=self._fh,
        )
        self.wait_for(lambda: "watching" in self.log.read_text(errors="replace"), 60, "the watcher to start")

    def lines(self, *, strict: bool = True) -> list[dict[str, Any]]:
        """The log's JSON lines; a line that is not JSON fails, unless not strict (then it is skipped)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                if strict:
                    raise AssertionError(f"not a JSON log line: {line!r}") from None
        return out

    def wait_for(self, check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"signoff watch exited ({self.proc.returncode}):\n{self.log.read_text()}")
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text(errors='replace')[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._fh.close()
        return code


def filed_pdfs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "archive").rglob("*.pdf") if not p.relative_to(root / "archive").parts[0].startswith("_"))


def inbox_files(root: Path) -> list[str]:
    inbox = root / "inbox"
    return sorted(p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file() or p.is_symlink())


# -- memory, from /proc (Linux) --------------------------------------------------------------------------


def proc_kb(pid: int, key: str = "VmRSS") -> int | None:
    """A size from /proc/PID/status in kB (VmRSS: resident now; VmHWM: the most it ever was), None once gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _parents() -> dict[int, int]:
    """pid -> parent pid of every process there is now."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ")" ends it.
        out[int(name)] = int(stat[stat.rindex(b")") + 2 :].split()[1])
    return out


def _name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(a.decode(errors="replace") for a in argv if a)
    if "multiprocessing" in text and "spawn_main" in text:
        return "reader"  # the service's reading workers are started with multiprocessing's spawn
    return Path(argv[0].decode(errors="replace")).name or "?"


@dataclass
class MemoryWatch:
    """Samples the resident memory of a process and every process under it, every `every` seconds, in a thread.

    The main process's and each reader's own peaks are exact (VmHWM, read while they live); the
    tree's total is the largest sum of VmRSS seen in one sample, and a reader's tools (tesseract,
    pdftoppm) are seen only while they run at a sample: one that lived between two is missed.
    """

    pid: int
    every: float = 0.2
    tree_kb: int = 0  # largest sum over the whole tree in one sample
    hwm_kb: dict[int, int] = field(default_factory=dict)  # pid -> its own peak, main process and readers
    tools_kb: dict[int, int] = field(default_factory=dict)  # reader pid -> largest peak of the tools under it at once
    names: dict[int, str] = field(default_factory=dict)
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> MemoryWatch:
        self._thread = threading.Thread(target=self._run, name="memory-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> MemoryWatch:
        """Stop sampling (call while the process still runs, so its last peak is read)."""
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        parents = _parents()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)

        def below(pid: int) -> list[int]:
            out, todo = [], [pid]
            while todo:
                p = todo.pop()
                out.append(p)
                todo.extend(children.get(p, ()))
            return out

        rss = {p: proc_kb(p) or 0 for p in below(self.pid)}
        self.tree_kb = max(self.tree_kb, sum(rss.values()))
        for p in [self.pid, *children.get(self.pid, ())]:
            name = self.names.setdefault(p, "main" if p == self.pid else _name(p))
            if p != self.pid and name != "reader":
                continue
            hwm = proc_kb(p, "VmHWM")
            if hwm is not None:
                self.hwm_kb[p] = max(self.hwm_kb.get(p, 0), hwm)
            if p != self.pid:
                tools = sum(proc_kb(q, "VmHWM") or 0 for q in below(p) if q != p)
                self.tools_kb[p] = max(self.tools_kb.get(p, 0), tools)
        self.samples += 1

    @property
    def main_kb(self) -> int:
        return self.hwm_kb.get(self.pid, 0)

    @property
    def readers(self) -> dict[int, tuple[int, int]]:
        """Reader pid -> (its own peak kB, the largest peak of the tools it ran)."""
        return {p: (kb, self.tools_kb.get(p, 0)) for p, kb in self.hwm_kb.items() if p != self.pid}
