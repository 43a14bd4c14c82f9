"""Drop-folder benchmark: sustained pages per minute and peak memory of the real `signoff watch`.

Usage: .venv/bin/python scripts/bench_watch.py [--pages 40] [--workers N] [--dpi 300] [--seed 1] [--json]
(`make bench-watch` does the set-up first).

Generates N one-page sheets in mixed languages (pipeline.samples: random_sheet, render_sheet), starts `signoff
watch` as a subprocess on a temporary inbox and archive (every configured language, so Swedish
and Chinese pages are read as in production), moves all N into the inbox at once and waits until
each is filed. "Sustained" is the rate between the first and the last file filed (the readers'
start-up and the settle delay are not in it); "overall" counts from the drop. Memory is sampled
from /proc every 0.2 s: the service process and each reader exactly (their VmHWM), the whole
process tree (tesseract and poppler included) as the largest sum of resident sizes in one sample.
The machine's load average is reported too: on a shared machine the figures mean little without it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.proctree import MemoryWatch, cpu_seconds, load_average  # noqa: E402
from pipeline.samples import degrade, random_sheet, render_sheet  # noqa: E402
from tests.e2e.watching import Watch  # noqa: E402

FOLDERS = ("scanner-1", "scanner-2")
SETTLE = 1.0  # seconds; the production default (3) would only delay the start


def make_pages(outdir: Path, count: int, dpi: int, seed: int) -> dict[str, str]:
    """N generated one-page sheets, grey PNG: file name -> the sheet's language."""
    rng = random.Random(seed)
    out = {}
    for i in range(count):
        sheet = random_sheet(rng)
        page = degrade(render_sheet(sheet, dpi=dpi, rng=rng)[0], rng)
        name = f"bench-{i:04d}.png"
        page.convert("L").save(outdir / name, dpi=(dpi, dpi))
        out[name] = sheet.language
        print(".", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return out


def _tail(watch: Watch) -> str:
    return watch.log.read_text(errors="replace")[-3000:]


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    staging, inbox = root / "staging", root / "inbox"
    staging.mkdir()
    for folder in FOLDERS:
        (inbox / folder).mkdir(parents=True)
    print(f"generating {args.pages} sheets at {args.dpi} dpi", file=sys.stderr)
    languages = make_pages(staging, args.pages, args.dpi, args.seed)
    config = f"settle = {SETTLE}\n" + (f"workers = {args.workers}\n" if args.workers else "")
    (root / "signoff.toml").write_text(config)

    watch = Watch(root)
    memory = MemoryWatch(watch.proc.pid).start()
    loads = [load_average()[0]]
    dropped = time.time()
    for i, name in enumerate(sorted(languages)):  # all at once: a rename each, no writing
        os.replace(staging / name, inbox / FOLDERS[i % len(FOLDERS)] / name)
    print(f"dropped {args.pages} files; waiting until each is filed", file=sys.stderr)
    done = 0
    try:
        while done < args.pages:
            # zbar prints its own warnings on stderr, which is the service's log: skip them here.
            outcomes = [x for x in watch.lines(strict=False) if "event" in x]
            if len(outcomes) > done:
                print(f"\r{len(outcomes)}/{args.pages}", end="", file=sys.stderr, flush=True)
            done = len(outcomes)
            if watch.proc.poll() is not None:
                raise SystemExit(f"signoff watch exited ({watch.proc.returncode}):\n{_tail(watch)}")
            time.sleep(1.0)
            loads.append(load_average()[0])
        print(file=sys.stderr)
        own_cpu = sum(cpu_seconds(watch.proc.pid))
        readers_cpu = sum(sum(cpu_seconds(p)) for p in memory.readers if os.path.exists(f"/proc/{p}"))
        memory.stop()
    finally:
        code = watch.stop()
    events = Counter(x["event"] for x in outcomes)
    times = sorted(datetime.fromisoformat(x["at"]).timestamp() for x in outcomes if x["event"] == "filed")
    if code != 0 or events != {"filed": args.pages}:
        raise SystemExit(f"not every file was filed: {dict(events)}; watch exited {code}:\n{_tail(watch)}")
    span = times[-1] - times[0]
    # Files are filed with the index commit that holds them (50 sheets or 30 s): "sustained" counts
    # the files filed after the first commit, over the time since it; a run filed in one or two
    # commits over a few seconds has no such rate.
    after_first = sum(1 for at in times if at > times[0] + 1.0)
    mb = lambda kb: round(kb / 1024)  # noqa: E731
    return {
        "pages": args.pages,
        "dpi": args.dpi,
        "workers": len(memory.readers),
        "languages": dict(sorted(Counter(languages.values()).items())),
        "seconds_to_all_filed": round(times[-1] - dropped, 1),
        "pages_per_minute_sustained": round(after_first / span * 60, 1) if after_first and span >= 10 else None,
        "pages_per_minute_overall": round(len(times) / (times[-1] - dropped) * 60, 1),
        "peak_rss_mb": {
            "service_process": mb(memory.main_kb),
            "readers": [mb(own) for own, _ in memory.readers.values()],
            "readers_tools": [mb(tools) for _, tools in memory.readers.values()],
            "process_tree": mb(memory.tree_kb),
        },
        "cpu_seconds": {
            "service_process": round(own_cpu, 1),
            "readers_and_tools": round(readers_cpu, 1),
        },
        "load_average_1min": {"start": loads[0], "max": max(loads), "mean": round(sum(loads) / len(loads), 2)},
        "cores": os.cpu_count(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=40, help="sheets to generate and drop at once (one page each)")
    ap.add_argument("--workers", type=int, default=0, help="reading processes (default: one per core)")
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary inbox, archive and log; print where")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()
    if args.pages < 2:
        ap.error("--pages must be at least 2")

    root = Path(tempfile.mkdtemp(prefix="signoff-bench-watch-"))
    try:
        result = run(args, root)
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    if args.json:
        print(json.dumps(result))
        return 0
    peak, load = result["peak_rss_mb"], result["load_average_1min"]
    print(f"{result['pages']} pages at {result['dpi']} dpi {result['languages']}, {result['workers']} reader(s): "
          f"all filed {result['seconds_to_all_filed']} s after the drop")
    print(f"pages per minute: {result['pages_per_minute_sustained']} sustained, {result['pages_per_minute_overall']} overall")
    print(f"peak memory MB: service process {peak['service_process']}, readers {peak['readers']} "
          f"(their tesseract/pdftoppm {peak['readers_tools']}), whole tree {peak['process_tree']}")
    print(f"CPU s: service process {result['cpu_seconds']['service_process']}, "
          f"readers and their tools {result['cpu_seconds']['readers_and_tools']}")
    print(f"load average (1 min) on {result['cores']} cores: {load['start']} at the drop, "
          f"mean {load['mean']}, max {load['max']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
