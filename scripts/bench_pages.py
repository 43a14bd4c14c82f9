"""Throughput benchmark: signoff's pages per minute beside the OCR-only limit and ocrmypdf + zbarimg.

Usage: bash scripts/bench.sh [--pages 24] [--seed 1] [--jobs N] [--skip ocrmypdf] [--one-file] [--keep DIR] [--json]
(`make bench`; bench.sh runs scripts/setup.sh first). Speed is measured here, never in a timed test.

One fixed, seeded set of generated scans (pipeline.samples: sheets in en/sv/zh in equal numbers,
single-sheet PDFs and batch PDFs of 2-4 sheets, 300 and 200 dpi, grey JPEG-in-PDF as a scanner
writes them), then, one after the other, on the same files. With ``--one-file`` those files are
joined, in order, into one batch PDF (``batch-all.pdf``): a whole batch dropped at once, which the
ocrmypdf and signoff runs take as it is (tesseract still reads the same pages, rasterised from the parts).

1. the OCR-only limit: plain ``tesseract`` on every page image (``--psm 6``, TSV out, ``-l
   eng+swe+chi_sim``, the product's first reading), one process per core (``--jobs``) with
   OMP_THREAD_LIMIT=1, nothing else. The PDFs are rasterised to grey PGM images at their own
   resolution beforehand, outside the timing.
2. the alternative a user would script: ``ocrmypdf -l eng+swe+chi_sim --jobs N`` making a
   searchable PDF of each file (files one after the other, as a shell loop would), plus
   ``pdftoppm -gray`` and ``zbarimg`` on its pages for the barcodes (Debian's ImageMagick policy
   stops zbarimg reading PDFs itself). ocrmypdf is pip-installed into the virtualenv if missing,
   the packages already there kept at their versions.
3. ``signoff process --workers N`` of the same files from an inbox into a fresh archive and
   index, as a user runs it (its pages read in N processes), with SIGNOFF_TIMING set so it writes
   the per-stage seconds of all its processes (pipeline.timing) when it exits: summed over the
   processes, so with N > 1 they add up to more than the wall time.

Memory: the peak (VmHWM) of every process under this one, sampled from /proc every 0.2 s, by
process name; a tool that lives less than a sample apart may be missed (tesseract's memory rises
slowly to a plateau, so its peak is seen). For memory over time the watch also keeps, at each sample, the
resident size (VmRSS) of the largest process of each name, and the report gives, per name, the
peak in the first and in the last quarter of the run's wall time (flat: the last within 10% of
the first); and the machine's swap in use (or, with no swap configured, the least MemAvailable)
from /proc/meminfo. CPU seconds are those of the run's process trees
(wait4), and the load average is sampled each second: on a shared machine the figures mean little
without it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pikepdf

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.proctree import parents, proc_kb  # noqa: E402
from pipeline.samples import LANGUAGES, PlannedFile, SheetTruth, random_sheet, write_planned_file  # noqa: E402

RUNS = ("tesseract", "ocrmypdf", "signoff")
ONE_FILE = "batch-all.pdf"  # --one-file: the whole set as this one batch
FLAT = 0.10  # memory is flat when its last-quarter peak is at most this much above its first-quarter peak
LANGS = "eng+swe+chi_sim"  # the product's default languages
SHAPES = (("scan", 300), ("batch", 300), ("scan", 200), ("batch", 200))  # file i takes SHAPES[i % 4]
STAGES = (  # pipeline.timing's stage names in the product's order, with what each one holds
    ("rasterise", "rasterise (pdfinfo, pdftoppm at 300 dpi)"),
    ("barcodes", "barcodes (zxing-cpp, then zbar)"),
    ("orientation", "orientation (barcode turn, deskew, tesseract OSD)"),
    ("preprocess", "cleaning the OCR copy"),
    ("ocr", "OCR, first reading (the first configured language)"),
    ("ocr_language", "OCR again in the page's own language"),
    ("ocr_cells", "OCR of single item cells and names"),
    ("fields", "field reading and checks"),
    ("filing", "filing (PDF, sidecar, fsync)"),
    ("indexing", "indexing (whoosh commit)"),
)
OTHER = "not in a stage: start-up, opening and hashing files, blank check, grouping sheets, waiting"


# -- the page set ------------------------------------------------------------------------------
def plan_set(pages: int, seed: int) -> list[PlannedFile]:
    """The benchmark's files, chosen but not drawn: ``pages`` one-page sheets in PDFs (fast, deterministic).

    Languages come evenly (shuffled by the seed); files go single-sheet 300 dpi, batch 300 dpi,
    single 200 dpi, batch 200 dpi, and round again; a batch holds 2-4 sheets.
    """
    if pages < 1:
        raise ValueError("pages must be at least 1")
    rng = random.Random(seed)
    langs = [LANGUAGES[i % len(LANGUAGES)] for i in range(pages)]
    rng.shuffle(langs)
    used: set[str] = set()
    files: list[PlannedFile] = []
    at = 0
    while at < pages:
        stem, dpi = SHAPES[len(files) % len(SHAPES)]
        size = min(rng.randint(2, 4), pages - at) if stem == "batch" else 1
        sheets: list[SheetTruth] = []
        for lang in langs[at : at + size]:
            sheet = random_sheet(rng, language=lang)
            while sheet.delivery_number in used:
                sheet = random_sheet(rng, language=lang)
            used.add(sheet.delivery_number)
            sheets.append(sheet)
        at += size
        files.append(PlannedFile(name=f"{stem}-{len(files) + 1:04d}.pdf", dpi=dpi, entries=tuple(sheets)))
    return files


def describe_set(plans: Sequence[PlannedFile], seed: int, *, one_file: bool = False) -> dict[str, Any]:
    """What the set holds, for the report (``one_file``: the files joined into one batch PDF)."""
    sheets = [s for p in plans for s in p.sheets]
    dpis: Counter[int] = Counter()
    for p in plans:
        dpis[p.dpi] += len(p.entries)
    return {
        "seed": seed,
        "pages": len(sheets),
        "files": len(plans),
        "batches": sum(1 for p in plans if len(p.entries) > 1),
        "languages": dict(sorted(Counter(s.language for s in sheets).items())),
        "dpi": {str(k): v for k, v in sorted(dpis.items())},
        "one_file": ONE_FILE if one_file else None,
    }


def write_set(plans: Sequence[PlannedFile], outdir: Path, seed: int) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    for plan in plans:
        write_planned_file(outdir / plan.name, plan, "scanner", random.Random(f"{seed}:{plan.name}"))
        print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)


def join_pdfs(parts: Sequence[Path], out: Path) -> int:
    """The parts' pages back to back in one PDF (pikepdf copies the scanned images as they are); its page count.

    The set is written file by file and joined after, not drawn as one planned file: that would hold
    every page image in memory at once (some 8 MB each at 300 dpi).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack, pikepdf.new() as joined:
        for part in parts:
            joined.pages.extend(stack.enter_context(pikepdf.open(part)).pages)
        joined.save(out)
        return len(joined.pages)


def rasterise(pdf: Path, dpi: int, outdir: Path) -> list[Path]:
    """The PDF's pages as grey PGM images at ``dpi`` (pdftoppm), in page order."""
    outdir.mkdir(parents=True, exist_ok=True)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-gray", str(pdf), str(outdir / pdf.stem)], check=True)
    return sorted(outdir.glob(f"{pdf.stem}-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


# -- measuring ---------------------------------------------------------------------------------
@dataclass(slots=True)
class Child:
    """A finished child process: exit code, wall seconds and its tree's CPU seconds."""

    code: int
    seconds: float
    cpu: float


def run_child(argv: Sequence[str | Path], *, env: dict[str, str] | None = None, cwd: Path | None = None,
              stdout: Any = subprocess.DEVNULL, stderr: Any = subprocess.DEVNULL) -> Child:
    """Run a command to its end; wait4 gives its CPU time (its waited-for children's too).

    Not its peak memory: Linux counts the parent's size, copied at the fork, in a child's ru_maxrss.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([str(a) for a in argv], env=env, cwd=cwd, stdout=stdout, stderr=stderr)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Child(proc.returncode, time.perf_counter() - start, usage.ru_utime + usage.ru_stime)


def load_average() -> float:
    with open("/proc/loadavg", encoding="ascii") as fh:
        return float(fh.read().split()[0])


def meminfo() -> dict[str, int]:
    """/proc/meminfo's MemAvailable, SwapTotal and SwapFree in kB."""
    out: dict[str, int] = {}
    with open("/proc/meminfo", encoding="ascii") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("MemAvailable", "SwapTotal", "SwapFree"):
                out[key] = int(rest.split()[0])
    return out


def quarter_peaks(timeline: Sequence[tuple[float, dict[str, int]]], seconds: float | None = None,
                  *, least_mb: int = 0) -> dict[str, dict[str, Any]]:
    """Per process name, the peak of its largest process's RSS in the first and the last quarter of the run.

    Args:
        timeline: (seconds since the run began, {name: kB of the largest process of that name then}), in time order.
        seconds: The run's wall time (default: the last sample's time).
        least_mb: Leave out names that never reach this size.

    Returns:
        name -> {"first_quarter_mb", "last_quarter_mb" (None: not running then), "peak_mb", "flat" (the
        last within FLAT of the first; None without both)}, the largest first.
    """
    if not timeline:
        return {}
    span = seconds if seconds is not None else timeline[-1][0]
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    peak: dict[str, int] = {}
    for t, sizes in timeline:
        for name, kb in sizes.items():
            peak[name] = max(peak.get(name, 0), kb)
            if t <= span / 4:
                first[name] = max(first.get(name, 0), kb)
            if t >= span * 3 / 4:
                last[name] = max(last.get(name, 0), kb)
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(peak, key=lambda n: -peak[n]):
        if peak[name] < least_mb * 1024:
            continue
        a = round(first[name] / 1024) if name in first else None
        b = round(last[name] / 1024) if name in last else None
        out[name] = {"first_quarter_mb": a, "last_quarter_mb": b, "peak_mb": round(peak[name] / 1024),
                     "flat": None if a is None or b is None else b <= a * (1 + FLAT)}
    return out


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return "?"


@dataclass
class TreeWatch:
    """Samples every process under this one (peak VmHWM by pid and name, largest tree total) and the load average.

    A process is keyed by its pid and its name now, so a tool's exec starts a new entry. One seen
    once under its parent's name is a fork caught before its exec (sharing the parent's figures), and
    is not counted; one seen so twice is a worker process.
    """

    every: float = 0.2
    processes: bool = True  # False: the load average alone
    peaks: dict[tuple[int, str], int] = field(default_factory=dict)  # (pid, name) -> VmHWM kB
    seen: Counter[tuple[int, str]] = field(default_factory=Counter)
    forks: set[tuple[int, str]] = field(default_factory=set)  # named as their parent
    tree_kb: int = 0
    loads: list[float] = field(default_factory=list)
    # Memory over time: (seconds since the start, {name: VmRSS kB of the largest process of that name}).
    timeline: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    mem_start: dict[str, int] = field(default_factory=dict)  # /proc/meminfo at the start
    swap_max_kb: int = 0  # the most swap in use at any sample
    available_min_kb: int = 0  # the least MemAvailable at any sample
    started: float = 0.0
    seconds: float = 0.0  # from the start to the end
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> TreeWatch:
        self.loads.append(load_average())
        self.mem_start = meminfo()
        self.available_min_kb = self.mem_start.get("MemAvailable", 0)
        self.swap_max_kb = self.mem_start.get("SwapTotal", 0) - self.mem_start.get("SwapFree", 0)
        self.started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="tree-watch", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.seconds = time.monotonic() - self.started
        self.loads.append(load_average())

    def _run(self) -> None:
        last_load = time.monotonic()
        while not self._stop.wait(self.every):
            if self.processes:
                self.sample()
                self.sample_meminfo()
            if time.monotonic() - last_load >= 1.0:
                self.loads.append(load_average())
                last_load = time.monotonic()

    def sample(self) -> None:
        me = os.getpid()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents().items():
            children.setdefault(ppid, []).append(pid)
        todo, total = [(pid, _comm(me)) for pid in children.get(me, ())], 0
        now: dict[str, int] = {}
        while todo:
            pid, parent = todo.pop()
            name = _comm(pid)
            todo.extend((child, name) for child in children.get(pid, ()))
            rss = proc_kb(pid) or 0
            total += rss
            if rss:
                now[name] = max(now.get(name, 0), rss)
            hwm = proc_kb(pid, "VmHWM")
            if hwm:
                key = (pid, name)
                self.peaks[key] = max(self.peaks.get(key, 0), hwm)
                self.seen[key] += 1
                if name == parent:
                    self.forks.add(key)
        self.tree_kb = max(self.tree_kb, total)
        self.timeline.append((round(time.monotonic() - self.started, 2), now))

    def sample_meminfo(self) -> None:
        info = meminfo()
        self.swap_max_kb = max(self.swap_max_kb, info.get("SwapTotal", 0) - info.get("SwapFree", 0))
        if "MemAvailable" in info:
            self.available_min_kb = min(self.available_min_kb, info["MemAvailable"])

    def memory(self) -> dict[str, dict[str, int]]:
        """Process name -> {"peak_mb": the largest one's peak, "processes": how many were seen}."""
        out: dict[str, dict[str, int]] = {}
        for (pid, name), kb in self.peaks.items():
            if (pid, name) in self.forks and self.seen[(pid, name)] < 2:
                continue
            row = out.setdefault(name, {"peak_mb": 0, "processes": 0})
            row["peak_mb"] = max(row["peak_mb"], round(kb / 1024))
            row["processes"] += 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]["peak_mb"]))

    def memory_over_time(self) -> dict[str, dict[str, Any]]:
        """Per process name of 5 MB or more: its largest process's RSS peak in the first and last quarter."""
        return quarter_peaks(self.timeline, self.seconds or None, least_mb=5)

    def swap(self) -> dict[str, Any]:
        """The machine's swap (MB) at the start and the most in use during the watch; the least MemAvailable."""
        total = self.mem_start.get("SwapTotal", 0)
        return {"configured": total > 0, "total_mb": round(total / 1024),
                "used_at_start_mb": round((total - self.mem_start.get("SwapFree", 0)) / 1024),
                "max_used_mb": round(self.swap_max_kb / 1024),
                "available_at_start_mb": round(self.mem_start.get("MemAvailable", 0) / 1024),
                "min_available_mb": round(self.available_min_kb / 1024)}

    def load(self) -> dict[str, float]:
        return {"start": self.loads[0], "mean": round(sum(self.loads) / len(self.loads), 2), "max": max(self.loads)}


def _result(label: str, pages: int, seconds: float, cpu: float, watch: TreeWatch, **extra: Any) -> dict[str, Any]:
    return {
        "label": label,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "pages_per_minute": round(pages / seconds * 60, 2),
        "memory": watch.memory(),
        "tree_peak_mb": round(watch.tree_kb / 1024),
        "load": watch.load(),
        "memory_over_time": watch.memory_over_time(),
        "swap": watch.swap(),
        **extra,
    }


def _plain_env() -> dict[str, str]:
    """This environment without signoff settings or a thread limit: tools run as a user runs them."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_") and k != "OMP_THREAD_LIMIT"}


# -- the three runs ----------------------------------------------------------------------------
def run_tesseract(images: Sequence[tuple[Path, int]], out: Path, jobs: int) -> dict[str, Any]:
    """Plain tesseract on every page image, ``jobs`` processes at a time, one thread each."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**_plain_env(), "OMP_THREAD_LIMIT": "1"}

    def one(item: tuple[Path, int]) -> Child:
        image, dpi = item
        child = run_child(["tesseract", image, out / image.stem, "-l", LANGS, "--psm", "6", "--dpi", str(dpi), "tsv"],
                          env=env)
        if child.code != 0:
            raise SystemExit(f"tesseract failed on {image.name} (exit {child.code})")
        print(".", end="", file=sys.stderr, flush=True)
        return child

    with TreeWatch() as watch:
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            children = list(pool.map(one, images))
        seconds = time.perf_counter() - start
    print(file=sys.stderr)
    return _result(f"OCR-only limit: tesseract, {jobs} processes", len(images), seconds,
                   sum(c.cpu for c in children), watch)


def ensure_ocrmypdf() -> Path:
    """ocrmypdf in this virtualenv, pip-installed if missing without moving the packages already there."""
    exe = Path(sys.executable).parent / "ocrmypdf"
    if exe.exists():
        return exe
    print("installing ocrmypdf into the virtualenv (benchmark only)", file=sys.stderr)
    freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix="bench-constraints-") as pins:
        pins.write(freeze)
        pins.flush()
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-c", pins.name, "ocrmypdf"], check=True)
    return exe


def run_ocrmypdf(files: Sequence[tuple[Path, int]], out: Path, jobs: int) -> dict[str, Any]:
    """ocrmypdf then pdftoppm + zbarimg on each file in turn, as a user's shell loop would."""
    exe = ensure_ocrmypdf()
    out.mkdir(parents=True, exist_ok=True)
    env, cpu, codes, pages = _plain_env(), 0.0, 0, 0
    with TreeWatch() as watch:
        start = time.perf_counter()
        for pdf, dpi in files:
            with (out / f"{pdf.stem}.ocrmypdf.log").open("wb") as log:
                child = run_child([exe, "-l", LANGS, "--jobs", str(jobs), pdf, out / pdf.name], env=env, stderr=log)
            if child.code != 0:
                raise SystemExit(f"ocrmypdf failed on {pdf.name} (exit {child.code}); see {log.name}")
            cpu += child.cpu
            stem = out / "pages" / pdf.stem
            stem.parent.mkdir(exist_ok=True)
            child = run_child(["pdftoppm", "-r", str(dpi), "-gray", pdf, stem], env=env)
            cpu += child.cpu
            images = sorted(stem.parent.glob(f"{pdf.stem}-*.pgm"))
            pages += len(images)
            with (out / f"{pdf.stem}.zbar.txt").open("wb") as found:
                child = run_child(["zbarimg", "-q", *images], env=env, stdout=found)
            if child.code not in (0, 4):  # 4: no code on some page
                raise SystemExit(f"zbarimg failed on {pdf.name}'s pages (exit {child.code})")
            cpu += child.cpu
            codes += len((out / f"{pdf.stem}.zbar.txt").read_text(errors="replace").splitlines())
            for image in images:
                image.unlink()
            print(".", end="", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - start
    print(file=sys.stderr)
    return _result(f"ocrmypdf --jobs {jobs} + zbarimg", pages, seconds, cpu, watch, barcodes_read=codes)


def run_signoff(files: Sequence[Path], root: Path, pages: int, jobs: int) -> dict[str, Any]:
    """`signoff process --workers jobs` of the files from an inbox into a fresh archive and index, stage times on."""
    inbox, archive, stages = root / "inbox", root / "archive", root / "stages"
    inbox.mkdir(parents=True)
    stages.mkdir()
    dropped = [Path(shutil.copy2(f, inbox / f.name)) for f in files]
    env = {**_plain_env(), "SIGNOFF_TIMING": str(stages)}
    argv = [Path(sys.executable).parent / "signoff", "--inbox", inbox, "--archive", archive,
            "--languages", LANGS.replace("+", ","), "process", "--workers", str(jobs), "--json", *dropped]
    with (root / "process.jsonl").open("wb") as rows, (root / "process.log").open("wb") as log, TreeWatch() as watch:
        child = run_child(argv, env=env, cwd=root, stdout=rows, stderr=log)
    if child.code not in (0, 1):  # 1: something was quarantined (counted below)
        raise SystemExit(f"signoff process exited {child.code}; see {root / 'process.log'}")
    records = [json.loads(line) for line in (root / "process.jsonl").read_text().splitlines() if line.strip()]
    totals: Counter[str] = Counter()
    for path in stages.glob("stages-*.json"):
        for name, row in json.loads(path.read_text())["stages"].items():
            totals[name] += row["seconds"]
    return _result(f"signoff process --workers {jobs}", pages, child.seconds, child.cpu, watch,
                   rows=len(records), exit_code=child.code,
                   stages={name: round(s, 2) for name, s in totals.items()})


# -- the machine and the report ----------------------------------------------------------------
def machine() -> dict[str, Any]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as fh:
        ram_kb = next(int(line.split()[1]) for line in fh if line.startswith("MemTotal:"))
    return {"cores": len(os.sched_getaffinity(0)), "cpu": cpu, "ram_gib": round(ram_kb / 1024**2, 1)}


def ratios(runs: dict[str, dict[str, Any]]) -> dict[str, float]:
    """signoff's pages per minute over each other run's."""
    ours = runs.get("signoff")
    if not ours:
        return {}
    return {name: round(ours["pages_per_minute"] / r["pages_per_minute"], 2)
            for name, r in runs.items() if name != "signoff" and r.get("pages_per_minute")}


def _memory_cell(run: dict[str, Any]) -> str:
    mem = [f"{name} {row['peak_mb']}" + (f" (x{row['processes']})" if row["processes"] > 1 else "")
           for name, row in run["memory"].items() if row["peak_mb"] >= 5]
    return ", ".join(mem) or "-"


def memory_notes(run: dict[str, Any], who: str = "the") -> list[str]:
    """A run's memory over time and the machine's swap (or free memory), as report lines."""
    lines = []
    over = run.get("memory_over_time") or {}
    if over:
        def cell(name: str, row: dict[str, Any]) -> str:
            a, b = row["first_quarter_mb"], row["last_quarter_mb"]
            if a is None or b is None:
                return f"{name} {'-' if a is None else a} -> {'-' if b is None else b} MB"
            return f"{name} {a} -> {b} MB ({'flat' if row['flat'] else f'grew {b / a - 1:.0%}' if a else 'grew'})"

        lines.append(f"memory over {who} run (largest process of each name, peak RSS in the first -> last quarter "
                     f"of its {run['seconds']:.0f} s): " + ", ".join(cell(n, r) for n, r in over.items()))
    swap = run.get("swap")
    if swap:
        if swap["configured"]:
            lines.append(f"swap during {who} run: {swap['total_mb']} MB configured, "
                         f"{swap['used_at_start_mb']} MB in use at the start, at most {swap['max_used_mb']} MB"
                         + (" (it swapped)" if swap["max_used_mb"] > swap["used_at_start_mb"] else " (no swapping)"))
        else:
            lines.append(f"swap during {who} run: no swap configured; "
                         f"MemAvailable {swap['available_at_start_mb']} MB at the start, at least {swap['min_available_mb']} MB")
    return lines


def format_report(result: dict[str, Any]) -> str:
    """The benchmark's result as text: the machine, the set, the runs' table and signoff's stages (markdown tables)."""
    m, s, load = result["machine"], result["set"], result["load"]
    langs = " / ".join(f"{k} {v}" for k, v in s["languages"].items())
    dpis = " / ".join(f"{v} at {k} dpi" for k, v in s["dpi"].items())
    where = (f"in one batch PDF ({s['one_file']}, written as {s['files']} PDFs and joined)" if s.get("one_file")
             else f"in {s['files']} PDFs, {s['batches']} of them batches")
    lines = [
        f"machine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB RAM; load average (1 min) "
        f"{load['before']} before the run, mean {load['mean']} and max {load['max']} during the runs "
        f"(this benchmark's own processes count in it: up to {result['jobs']})",
        f"set: {s['pages']} pages (seed {s['seed']}) {where}; "
        f"{langs}; {dpis}",
        "",
        "| run | wall s | CPU s | CPU s/page | pages/min | signoff's ratio | peak MB per process | load avg (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    runs, ratio = result["runs"], result["ratios"]
    for name in RUNS:
        run = runs.get(name)
        if run is None:
            lines.append(f"| {name} | skipped | | | | | | |")
            continue
        r = "1" if name == "signoff" else (f"{ratio[name]:.2f}" if name in ratio else "-")
        lines.append(f"| {run['label']} | {run['seconds']:.1f} | {run['cpu_seconds']:.1f} | "
                     f"{run['cpu_seconds'] / s['pages']:.2f} | {run['pages_per_minute']:.1f} | {r} | "
                     f"{_memory_cell(run)} | {run['load']['mean']} |")
    ours = runs.get("signoff")
    if ours:
        # Stage seconds are summed over the reading processes: measured against the wall time of
        # all of them (wall x jobs), what is in no stage is start-up, hashing and waiting.
        stages, pages = ours["stages"], s["pages"]
        spent = ours["seconds"] * result["jobs"]
        known = dict(STAGES)
        rows = [(known.get(n, n), stages[n]) for n in [*known, *sorted(set(stages) - set(known))] if n in stages]
        rows.append((OTHER, max(0.0, spent - sum(stages.values()))))
        lines += ["", f"| signoff's stages (seconds summed over its {result['jobs']} reading processes) | s | s/page | share |",
                  "|---|---|---|---|"]
        lines += [f"| {label} | {sec:.1f} | {sec / pages:.2f} | {sec / spent:.0%} |" for label, sec in rows]
    notes = []
    if "tesseract" in runs:
        notes.append("tesseract's pages were rasterised beforehand (pdftoppm, grey PGM at the scan's dpi), "
                     "outside its timing")
    if "ocrmypdf" in runs:
        notes.append(f"zbarimg read {runs['ocrmypdf']['barcodes_read']} codes")
    if ours:
        notes.append(f"signoff filed {ours['rows']} sheets (exit {ours['exit_code']})")
        notes += memory_notes(ours, "signoff's")
    if load["before"] > m["cores"] / 2:
        notes.append("the machine was busy before the benchmark started: these figures are not its capacity")
    lines += ["", *notes, f"whole run (generating the set included): {result['seconds_total']:.0f} s"]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------
def _skips(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in RUNS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown run {unknown[0]!r}: choose from {', '.join(RUNS)}")
    return names


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="bench_pages.py",
        description=__doc__.splitlines()[0],
        epilog="Runs: tesseract (the OCR-only limit), ocrmypdf (ocrmypdf + zbarimg), signoff (signoff process).",
    )
    ap.add_argument("--pages", type=int, default=24, help="pages to generate, one sheet each (default 24)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the generated set (default 1)")
    ap.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)),
                    help="tesseract processes at once, ocrmypdf's --jobs and signoff's --workers (default: the cores)")
    ap.add_argument("--skip", type=_skips, action="append", default=[], metavar="RUN[,RUN]",
                    help="leave a run out: tesseract, ocrmypdf or signoff (repeatable)")
    ap.add_argument("--one-file", action="store_true",
                    help=f"join the set into one batch PDF ({ONE_FILE}): a whole batch dropped at once")
    ap.add_argument("--keep", type=Path, metavar="DIR",
                    help="work in DIR (new or empty); keep the set, the outputs, the archive, logs and result.json")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args(argv)
    if args.pages < 1:
        ap.error("--pages must be at least 1")
    if args.jobs < 1:
        ap.error("--jobs must be at least 1")
    args.skip = sorted({name for names in args.skip for name in names})
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        ap.error(f"--keep {args.keep}: the folder is not empty")
    return args


def _check_tools(runs: Sequence[str]) -> None:
    need = {"pdftoppm": "poppler-utils", "tesseract": "tesseract-ocr"}
    if "ocrmypdf" in runs:
        need |= {"zbarimg": "zbar-tools", "gs": "ghostscript"}
    lacking = [pkg for tool, pkg in need.items() if shutil.which(tool) is None]
    if lacking:
        raise SystemExit(f"missing: {', '.join(lacking)}; run scripts/setup.sh")


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    began, before = time.perf_counter(), load_average()
    todo = [r for r in RUNS if r not in args.skip]
    _check_tools(todo)
    plans = plan_set(args.pages, args.seed)
    print(f"generating {args.pages} pages in {len(plans)} PDFs (seed {args.seed}) in {root}", file=sys.stderr)
    one_file = getattr(args, "one_file", False)
    parts = root / ("parts" if one_file else "set")
    write_set(plans, parts, args.seed)
    pages = [(parts / p.name, p.dpi) for p in plans]  # what tesseract rasterises: each part at its own dpi
    files = pages
    if one_file:
        joined = join_pdfs([f for f, _ in pages], root / "set" / ONE_FILE)
        print(f"joined them into one {joined}-page PDF, set/{ONE_FILE}", file=sys.stderr)
        files = [(root / "set" / ONE_FILE, max(p.dpi for p in plans))]
    runs: dict[str, dict[str, Any]] = {}
    with TreeWatch(every=1.0, processes=False) as whole:
        if "tesseract" in todo:
            images = [(img, dpi) for pdf, dpi in pages for img in rasterise(pdf, dpi, root / "images")]
            print(f"1. tesseract on {len(images)} page images, {args.jobs} at a time", file=sys.stderr)
            runs["tesseract"] = run_tesseract(images, root / "tesseract", args.jobs)
        if "ocrmypdf" in todo:
            print(f"2. ocrmypdf --jobs {args.jobs} + zbarimg on {len(files)} PDFs", file=sys.stderr)
            runs["ocrmypdf"] = run_ocrmypdf(files, root / "ocrmypdf", args.jobs)
        if "signoff" in todo:
            print(f"3. signoff process --workers {args.jobs} on {len(files)} PDFs", file=sys.stderr)
            runs["signoff"] = run_signoff([f for f, _ in files], root / "signoff", args.pages, args.jobs)
    return {
        "machine": machine(),
        "load": {"before": before, **whole.load()},
        "set": describe_set(plans, args.seed, one_file=one_file),
        "jobs": args.jobs,
        "runs": runs,
        "ratios": ratios(runs),
        "seconds_total": round(time.perf_counter() - began, 1),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        result = run(args, args.keep.resolve())
        (args.keep / "result.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    else:
        with tempfile.TemporaryDirectory(prefix="signoff-bench-") as tmp:
            result = run(args, Path(tmp))
    print(json.dumps(result) if args.json else format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
