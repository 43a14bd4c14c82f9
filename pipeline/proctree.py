"""Process trees read from Linux's /proc: who runs under whom, their memory and CPU seconds.

For the end-to-end tests and the benchmarks that run signoff's commands as subprocesses
(tests/e2e, scripts/bench_*.py); signoff itself does not use it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MemoryWatch", "cpu_seconds", "descendants", "load_average", "parents", "proc_kb", "process_name"]


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


def _stat(pid: int | str) -> list[bytes]:
    """/proc/PID/stat's fields after "pid (comm)": comm may hold spaces and parentheses; the last ")" ends it."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        stat = fh.read()
    return stat[stat.rindex(b")") + 2 :].split()


def parents() -> dict[int, int]:
    """pid -> parent pid of every process there is now."""
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                out[int(name)] = int(_stat(name)[1])
            except OSError:
                continue
    return out


def process_name(pid: int) -> str:
    """The program's file name; "reader" for a process started by multiprocessing's spawn (signoff's readers)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(a.decode(errors="replace") for a in argv if a)
    if "multiprocessing" in text and "spawn_main" in text:
        return "reader"
    return Path(argv[0].decode(errors="replace")).name or "?"


def descendants(pid: int, tree: dict[int, int] | None = None) -> list[int]:
    """Every process under ``pid`` (its readers, their tesseract), as of now or of ``tree`` (pid -> parent)."""
    children: dict[int, list[int]] = {}
    for child, parent in (parents() if tree is None else tree).items():
        children.setdefault(parent, []).append(child)
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(own, children waited for) CPU seconds of a live process, from /proc/PID/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    utime, stime, cutime, cstime = (int(x) for x in _stat(pid)[11:15])
    return (utime + stime) / tick, (cutime + cstime) / tick


def load_average() -> tuple[float, float, float]:
    """The machine's load average over 1, 5 and 15 minutes."""
    with open("/proc/loadavg", encoding="ascii") as fh:
        one, five, fifteen = (float(x) for x in fh.read().split()[:3])
    return one, five, fifteen


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
        tree = parents()
        rss = {p: proc_kb(p) or 0 for p in [self.pid, *descendants(self.pid, tree)]}
        self.tree_kb = max(self.tree_kb, sum(rss.values()))
        for p in [self.pid, *(c for c, parent in tree.items() if parent == self.pid)]:
            name = self.names.setdefault(p, "main" if p == self.pid else process_name(p))
            if p != self.pid and name != "reader":
                continue
            hwm = proc_kb(p, "VmHWM")
            if hwm is not None:
                self.hwm_kb[p] = max(self.hwm_kb.get(p, 0), hwm)
            if p != self.pid:
                tools = sum(proc_kb(q, "VmHWM") or 0 for q in descendants(p, tree))
                self.tools_kb[p] = max(self.tools_kb.get(p, 0), tools)
        self.samples += 1

    @property
    def main_kb(self) -> int:
        return self.hwm_kb.get(self.pid, 0)

    @property
    def readers(self) -> dict[int, tuple[int, int]]:
        """Reader pid -> (its own peak kB, the largest peak of the tools it ran)."""
        return {p: (kb, self.tools_kb.get(p, 0)) for p, kb in self.hwm_kb.items() if p != self.pid}
