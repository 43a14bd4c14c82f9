"""Reading benchmark: pages per minute and peak memory of `signoff` reading generated scans.

Usage: .venv/bin/python scripts/bench_pages.py [--pages 20] [--dpi 300] [--seed 1] [--json]
(`bash scripts/bench.sh` does the set-up first). Speed is measured here, never in a timed test.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from pipeline.run import Pipeline
from pipeline.samples import degrade, random_sheet, render_sheet
from pipeline.settings import load_settings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=20, help="sheets to generate and read (one page each)")
    ap.add_argument("--dpi", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="signoff-bench-") as tmp:
        paths = []
        for i in range(args.pages):
            sheet = random_sheet(rng)
            page = degrade(render_sheet(sheet, dpi=args.dpi, rng=rng)[0], rng)
            path = Path(tmp) / f"bench-{i:04d}.png"
            page.convert("L").save(path, dpi=(args.dpi, args.dpi))
            paths.append((path, sheet.language))
        settings = load_settings(inbox=tmp, archive=str(Path(tmp) / "archive"))
        pipe = Pipeline(settings)
        per_lang: dict[str, list[float]] = {}
        started = time.perf_counter()
        for path, lang in paths:
            t = time.perf_counter()
            pipe.read(path)
            per_lang.setdefault(lang, []).append(time.perf_counter() - t)
            print(".", end="", file=sys.stderr, flush=True)
        elapsed = time.perf_counter() - started
    print(file=sys.stderr)
    # Tesseract and poppler run as child processes; their peak is not comparable here (a forked
    # child reports its parent's size), so this is the signoff process alone.
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "pages": args.pages,
        "dpi": args.dpi,
        "seconds": round(elapsed, 1),
        "pages_per_minute": round(args.pages / elapsed * 60, 1),
        "seconds_per_page": {k: round(sum(v) / len(v), 2) for k, v in sorted(per_lang.items())},
        "peak_rss_mb": round(own),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['pages']} pages at {args.dpi} dpi in {result['seconds']} s: "
              f"{result['pages_per_minute']} pages/min on one process")
        print("seconds per page by sheet language:", result["seconds_per_page"])
        print(f"peak memory of the signoff process: {result['peak_rss_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
