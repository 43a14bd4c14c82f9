"""Celery benchmark: one batch through `signoff watch` read by its local pool and by `signoff worker` processes on Redis.

Usage: .venv/bin/python scripts/bench_celery.py [--pages 40] [--seed 1] [--only local-1,celery-2] [--keep] [--json]
(`make bench-celery` does the set-up first).

One fixed, seeded set (scripts/bench_pages.py's: sheets in en/sv/zh in equal numbers, single-sheet
and batch PDFs of 2-4 sheets, 300 and 200 dpi), dropped at once into a fresh inbox and archive of
the real `signoff watch` (a subprocess, every configured language) in four configurations, the same
files each time:
  local-1   the local pool, workers = 1: one reading process under `signoff watch`
  local-2   the local pool, workers = 2
  celery-1  executor = "celery": one `signoff worker --concurrency 1` process
  celery-2  two `signoff worker --concurrency 1` processes, as on two machines
The celery runs start their own redis-server on a free loopback port (pipeline.service.local_redis),
and the workers before the service (running workers wait for work; their start is not timed).
"All filed" counts from the drop until the last file is filed; "sustained" is the rate between
the first and the last index commit that filed files (start-up and the settle delay are not in
it; filing waits for a commit, every 50 sheets or 30 s while reading goes on, so on a short run
it is coarse, and none when one commit filed everything). Each run must file every sheet exactly
once (a sidecar per delivery number, none twice, nothing quarantined or set aside as a
duplicate), or the benchmark fails. Memory is sampled from /proc every 0.2 s
(pipeline.proctree): the writer (`signoff watch`), each reading process and its tesseract/pdftoppm,
a worker's own process that watches over its reading process, and redis-server. CPU seconds are
read before the processes stop. The machine's load average is reported: on a shared machine the
figures mean little without it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_pages import describe_set, machine, plan_set, write_set  # noqa: E402  (scripts/ is sys.path[0])

from pipeline.proctree import MemoryWatch, cpu_seconds, load_average, proc_kb  # noqa: E402
from pipeline.service.local_redis import RedisServer  # noqa: E402

CONFIGS = {"local-1": ("local", 1), "local-2": ("local", 2), "celery-1": ("celery", 1), "celery-2": ("celery", 2)}
FOLDERS = ("scanner-1", "scanner-2")
SETTLE = 1.0  # seconds; the production default (3) would only delay the start
START_WAIT = 120.0  # seconds for a worker to beat, or the service to say it watches
PAGE_WAIT = 60.0  # seconds a page may take, at worst, before a run counts as stuck


class Signoff:
    """`signoff ARGS --log-json` in a subprocess of its own session, its stderr (the log) in a file."""

    def __init__(self, root: Path, name: str, *args: str) -> None:
        self.log = root / f"{name}.log"
        with self.log.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pipeline", *args, "--log-json"], cwd=root,
                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )

    def lines(self) -> list[dict[str, Any]]:
        """The log's JSON lines (zbar's own warnings on the same stderr are skipped)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def check(self, what: str) -> None:
        if self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"{what} exited ({self.proc.returncode}):\n{tail}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(150)  # a worker lets its reading process finish the page it reads
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)


def wait(check: Any, what: str, procs: list[Signoff], timeout: float = START_WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        for p in procs:
            p.check(what)
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def drop(names: list[str], staging: Path, inbox: Path) -> None:
    """All at once: a hard link each, complete at once as a rename would be; staging keeps the set for the next run."""
    for i, name in enumerate(names):
        os.link(staging / name, inbox / FOLDERS[i % len(FOLDERS)] / name)


def check_filed(archive: Path, expected: list[str], events: Counter[str], files: int) -> None:
    """Every sheet filed exactly once, from the archive itself: one sidecar per delivery number."""
    sidecars = Counter(p.stem for p in archive.rglob("*.json") if p.with_suffix(".pdf").is_file())
    problems = []
    if events != Counter(filed=files):
        problems.append(f"the service's outcomes: {dict(events)}, expected {files} filed")
    if sidecars != Counter(expected):
        missing, extra = Counter(expected) - sidecars, sidecars - Counter(expected)
        problems.append(f"sidecars: {sum(sidecars.values())} for {len(expected)} sheets; "
                        f"missing {sorted(missing)}, unexpected or twice {sorted(extra)}")
    problems += [f"{archive / d} exists" for d in ("_quarantine", "_duplicates") if (archive / d).exists()]
    if problems:
        raise SystemExit("not every sheet was filed exactly once: " + "; ".join(problems) + f" (see {archive})")


def run_one(name: str, set_dir: Path, plans: list[Any], root: Path) -> dict[str, Any]:
    executor, n = CONFIGS[name]
    inbox, archive = root / "inbox", root / "archive"
    for folder in FOLDERS:
        (inbox / folder).mkdir(parents=True)
    config = f'settle = {SETTLE}\n'
    redis = workers_seen = None
    workers: list[Signoff] = []
    procs: list[Signoff] = []
    try:
        if executor == "celery":
            redis = RedisServer(root / "redis")
            from pipeline.service.celery_app import Board

            board = Board(redis.url)
            config += f'executor = "celery"\nbroker = "{redis.url}"\n'
            (root / "signoff.toml").write_text(config)
            workers = [Signoff(root, f"worker-{i + 1}", "worker", "--concurrency", "1") for i in range(n)]
            procs += workers
            wait(lambda: len(board.workers()) >= n, "the workers' heartbeats", workers)
        else:
            (root / "signoff.toml").write_text(config + f"workers = {n}\n")
        watch = Signoff(root, "watch", "watch")
        procs.append(watch)
        wait(lambda: any("watching" in x.get("message", "") for x in watch.lines()), "the service to start", procs)
        mems = [MemoryWatch(p.proc.pid).start() for p in procs]
        pages_of = {p.name: len(p.entries) for p in plans}
        pages = sum(pages_of.values())
        loads = [load_average()[0]]
        dropped = time.time()
        drop(sorted(pages_of), set_dir, inbox)
        print(f"{name}: dropped {len(plans)} files ({pages} pages); waiting until each is filed", file=sys.stderr)
        deadline = time.monotonic() + PAGE_WAIT * pages
        while len(outcomes := [x for x in watch.lines() if "event" in x]) < len(plans):
            for p in procs:
                p.check(f"{name}: {p.log.stem}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{name}: only {len(outcomes)} of {len(plans)} files dealt with in {PAGE_WAIT * pages:.0f} s")
            time.sleep(1.0)
            loads.append(load_average()[0])
        cpu = {
            "writer": sum(cpu_seconds(watch.proc.pid)),
            # own + tesseract/pdftoppm (waited for): local readers under the service, a worker's under it
            "readers": sum(sum(cpu_seconds(r)) for m in mems for r in m.readers if os.path.exists(f"/proc/{r}")),
            "worker_processes": sum(cpu_seconds(w.proc.pid)[0] for w in workers),
            "redis": sum(cpu_seconds(redis.proc.pid)) if redis else 0.0,
        }
        redis_kb = proc_kb(redis.proc.pid, "VmHWM") if redis else None
        if redis:  # the pages each reading process read, as its heartbeat says (every 3 s: wait for the last)
            until = time.monotonic() + 5
            while sum((workers_seen := {w["pid"]: w.get("pages") or 0 for w in board.workers().values()}).values()) < pages:
                if time.monotonic() > until:
                    break
                time.sleep(0.5)
            board.close()
        for m in mems:
            m.stop()
    finally:
        codes = [p.stop() for p in reversed(procs)]  # the service first, then the workers
        if redis:
            redis.stop()
    if any(codes):
        raise SystemExit(f"{name}: a process exited {codes} (service last): see {root}/*.log")
    check_filed(archive, [s.delivery_number for p in plans for s in p.sheets], Counter(x["event"] for x in outcomes), len(plans))
    times = sorted((datetime.fromisoformat(x["at"]).timestamp(), pages_of[Path(x["source"]).name]) for x in outcomes)
    span, all_filed = times[-1][0] - times[0][0], times[-1][0] - dropped
    # Files are filed with the index commit that holds them (50 sheets or 30 s, or when reading
    # pauses): "sustained" counts the pages filed after the first commit, over the time since it.
    # A run filed in one commit has none.
    after_first = sum(n for at, n in times if at > times[0][0] + 1.0)
    mb = lambda kb: round(kb / 1024) if kb else None  # noqa: E731
    readers = [kb for m in mems for kb in m.readers.values()]
    return {
        "config": name,
        "executor": executor,
        "reading_processes": len(readers),
        "pages": pages,
        "seconds_to_all_filed": round(all_filed, 1),
        "pages_per_minute": round(pages / all_filed * 60, 1),
        "pages_per_minute_sustained": round(after_first / span * 60, 1) if after_first and span >= 10 else None,
        "cpu_seconds": {k: round(v, 1) for k, v in cpu.items()},
        "peak_mb": {
            "writer": mb(mems[-1].main_kb),
            "readers": [mb(own) for own, _ in readers],
            "readers_tools": [mb(tools) for _, tools in readers],
            "worker_processes": [mb(m.main_kb) for m in mems[:-1]],
            "redis": mb(redis_kb),
        },
        "pages_read_by_worker": workers_seen,
        "load_average_1min": {"start": loads[0], "mean": round(sum(loads) / len(loads), 2), "max": max(loads)},
    }


def commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short", "HEAD") + (" (with uncommitted changes)" if git("status", "--porcelain") else "")


def table(result: dict[str, Any]) -> str:
    s, load = result["set"], result["load_before"]
    lines = [
        f"commit {result['commit']}, {result['date']}; {result['machine']['cores']} cores, {result['machine']['cpu']}",
        f"{s['pages']} pages in {s['files']} PDFs ({s['batches']} batches), {s['languages']}, dpi {s['dpi']}, seed {s['seed']}",
        f"load average before: {load[0]} / {load[1]} / {load[2]} (1 / 5 / 15 min)",
        "",
        "| configuration | reading processes | all filed s | pages/min | sustained | CPU s writer / readers / worker procs / redis "
        "| peak MB writer | reader (+ its tools) | worker proc | redis | load mean / max |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["runs"]:
        c, m, ld = r["cpu_seconds"], r["peak_mb"], r["load_average_1min"]
        readers = ", ".join(f"{own} (+{tools})" for own, tools in zip(m["readers"], m["readers_tools"]))
        lines.append(
            f"| {r['config']} | {r['reading_processes']} | {r['seconds_to_all_filed']} | {r['pages_per_minute']} "
            f"| {r['pages_per_minute_sustained'] or '-'} | {c['writer']} / {c['readers']} / {c['worker_processes']} / {c['redis']} "
            f"| {m['writer']} | {readers} | {', '.join(map(str, m['worker_processes'])) or '-'} | {m['redis'] or '-'} "
            f"| {ld['mean']} / {ld['max']} |"
        )
    split = [f"{r['config']}: {sorted(r['pages_read_by_worker'].values())}" for r in result["runs"] if r["pages_read_by_worker"]]
    if split:
        lines += ["", "pages read per celery reading process: " + "; ".join(split)]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=40, help="pages to generate, one sheet each (default 40)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default=",".join(CONFIGS), help=f"configurations to run, comma-separated (default: {','.join(CONFIGS)})")
    ap.add_argument("--keep", action="store_true", help="keep the set, the inboxes, archives and logs; print where")
    ap.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = ap.parse_args()
    todo = [c.strip() for c in args.only.split(",") if c.strip()]
    if args.pages < 2 or not todo or any(c not in CONFIGS for c in todo):
        ap.error(f"--pages must be at least 2; --only names some of {', '.join(CONFIGS)}")
    if any(CONFIGS[c][0] == "celery" for c in todo) and shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed: run scripts/setup.sh")

    before = load_average()
    work = Path(tempfile.mkdtemp(prefix="signoff-bench-celery-"))
    try:
        plans = plan_set(args.pages, args.seed)
        print(f"generating {args.pages} pages in {len(plans)} PDFs (seed {args.seed})", file=sys.stderr)
        write_set(plans, work / "set", args.seed)
        runs = [run_one(name, work / "set", plans, work / name) for name in todo]
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "commit": commit(),
        "date": datetime.now().astimezone().isoformat(timespec="minutes"),
        "machine": machine(),
        "set": describe_set(plans, args.seed),
        "load_before": before,
        "runs": runs,
    }
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
