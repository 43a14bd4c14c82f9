"""``python -m pipeline.samples OUTDIR``: write the demo set of sample scans (and, if asked, its truth)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.samples.corpus import DATE_ORDERS, write_customers_csv, write_demo_set
from pipeline.samples.truth import write_truth

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the demo set, print one line per file to stderr; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.samples", description=__doc__)
    parser.add_argument("outdir", type=Path, help="folder to write the sample scans into")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--dpi", type=int, default=300, help="scan resolution (default 300)")
    parser.add_argument("--date-order", choices=DATE_ORDERS, default="DMY", help="day- or month-first dates")
    parser.add_argument("--truth", type=Path, help="also write the truth JSON to this file")
    parser.add_argument("--customers", type=Path, help="also write customers.csv (id,name) to this file")
    args = parser.parse_args(argv)
    files = write_demo_set(args.outdir, seed=args.seed, dpi=args.dpi, date_order=args.date_order)
    for f in files:
        numbers = ", ".join(s.delivery_number for s in f.sheets)
        print(f"{f.path}: {len(f.page_kinds)} page(s): {numbers}", file=sys.stderr)
    if args.truth:
        write_truth(files, args.truth)
    if args.customers:
        write_customers_csv(args.customers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
