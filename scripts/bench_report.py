"""Benchmark `signoff report` on a synthetic archive of N sidecars (default 100,000).

    .venv/bin/python scripts/bench_report.py [--count 100000] [--days 365] [--archive DIR]

Writes sidecars shaped like real ones (indented JSON with OCR text, ~3 KB each) filed over the
last `--days` days, with file times set to when they were filed, as filing leaves them; plus
rescans, quarantined files and a dispatch export of the last 30 days. Then times build_report and
each renderer for: the nightly report (yesterday), the same with the export, the same reading
every sidecar (--full-scan), and a report over the whole period; and the command line end to end.
Figures are for a warm page cache (the archive was just written).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.report import Period, build_report, load_expected, render  # noqa: E402

TEXT = (
    "DELIVERY NOTE  Delivery No. {dn}\nCustomer {customer}\n42 Canal Street\nManchester M1 3HE\n"
    "Article  Description  Qty\nA-1001  Pine board 45x95 mm  12 m\nTB-2x4-240  Timber 2x4, 240 cm  30 pcs\n"
    "SE-44120  Wood screws M6 x 40  4 box\nReceived (date/time) {day} 10:30\nReceived by Anna Lindqvist\n"
    "Signature\nRemarks: 2 cartons damaged\n"
) * 3


def write_archive(root: Path, count: int, days: int, seed: int = 1) -> tuple[int, int]:
    """Write `count` sidecars; return (files written, deliveries in the export)."""
    rng = random.Random(seed)
    today = datetime.now().astimezone().date()
    customers = [f"Customer {i:03d} AB" for i in range(200)]
    exported = root.parent / "dispatch.csv"
    written = 0
    with exported.open("w", encoding="utf-8", newline="") as fh:
        export = csv.writer(fh)
        export.writerow(["delivery_number", "customer", "delivery_date", "route"])
        n = 0
        while written < count:
            n += 1
            filed_day = today - timedelta(days=rng.randint(1, days))
            delivered = filed_day - timedelta(days=rng.randint(0, 6))
            customer = rng.choice(customers)
            dn = f"DN-{delivered.year}-{n:07d}"
            versions = 2 if rng.random() < 0.03 else 1
            for version in range(1, versions + 1):
                if written >= count:
                    break
                processed = datetime.combine(filed_day + timedelta(days=version - 1), datetime.min.time()).astimezone()
                processed += timedelta(hours=rng.randint(7, 17), minutes=rng.randint(0, 59))
                _write(root, dn, customer, delivered, processed, version, rng)
                written += 1
            if (today - delivered).days <= 30:
                export.writerow([dn, customer, delivered.isoformat(), "R1"])
        for i in range(50):  # went out, never came back
            export.writerow([f"DN-LOST-{i:04d}", "Customer 000 AB", (today - timedelta(days=5 + i % 20)).isoformat(), "R2"])
    for i in range(40):
        day = today - timedelta(days=1 + i % days)
        folder = root / "_quarantine" / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"scan-{i}.pdf").write_bytes(b"")
        (folder / f"scan-{i}.pdf.reason.json").write_text(json.dumps({"code": "bad_input.zero_bytes", "message": "empty", "stage": "ingest"}))
    set_folder_times()
    return written, n


def _write(root: Path, dn: str, customer: str, delivered: date, processed: datetime, version: int, rng: random.Random) -> None:
    roll = rng.random()
    kind = "other" if roll < 0.02 else "signoff"
    st = {"customer": "ok", "items": "ok", "time": "ok", "receiver": "ok", "signature": "ok"}
    if roll > 0.88 and version == 1:
        st["signature"] = "missing"
    elif roll > 0.80 and version == 1:
        st["time"] = "missing"
    elif roll > 0.77:
        st["signature"] = "unreadable"
    day = delivered.isoformat() if st["time"] == "ok" else None
    folder = "_other" if kind == "other" else customer.replace(" ", "-")
    month = day or processed.date().isoformat()
    stem = dn if version == 1 else f"{dn}.v{version}"
    rel = f"{folder}/{month[:4]}/{month[5:7]}/{stem}.pdf"
    items = [{"sku": "A-1001", "description": "Pine board 45x95 mm", "qty": 12, "unit": "m"}] * 3
    data = {
        "schema": 1, "doc_id": stem, "kind": kind, "delivery_number": dn, "delivery_number_source": "barcode",
        "customer": customer if kind == "signoff" else None, "customer_id": "C-1", "date": day,
        "fields": {
            "customer": {"status": st["customer"], "value": customer},
            "items": {"status": st["items"], "value": items},
            "time": {"status": st["time"], "value": f"{day}T10:30" if day else None},
            "receiver": {"status": st["receiver"], "value": "Anna Lindqvist"},
            "signature": {"status": st["signature"]},
        },
        "complete": kind == "signoff" and "missing" not in st.values(), "notes": [],
        "barcodes": [{"symbology": "CODE128", "data": dn, "page": 1}],
        "text": TEXT.format(dn=dn, customer=customer, day=day or ""),
        "source": {"name": "scan.pdf", "sha256": "a" * 64, "pages": [1]},
        "file": {"name": Path(rel).name, "sha256": "b" * 64, "path": rel},
        "version": version, "processed_at": processed.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "software": {"name": "signoff", "version": "0.1.0"},
    }
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    side = path.with_suffix(".json")
    side.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    stamp = processed.timestamp() + 2  # as filing leaves it: written just after processed_at
    os.utime(side, (stamp, stamp))
    FOLDER_TIMES[path.parent] = max(stamp, FOLDER_TIMES.get(path.parent, 0.0))


# Filing renames each file into its folder, which sets the folder's time: set it as filing would have.
FOLDER_TIMES: dict[Path, float] = {}


def set_folder_times() -> None:
    for folder, stamp in FOLDER_TIMES.items():
        os.utime(folder, (stamp, stamp))


def cpu() -> float:
    t = os.times()
    return t.user + t.system


Row = tuple[str, float, float, str]


def timed(label: str, archive: Path, period: Period, **kw: object) -> list[Row]:
    w, c = time.perf_counter(), cpu()
    report = build_report(archive, period, **kw)  # type: ignore[arg-type]
    rows = [(f"{label}: build_report", time.perf_counter() - w, cpu() - c, f"{report.totals.filed} filed, {len(report.chase)} to chase")]
    for fmt in ("text", "md", "csv", "json", "html"):
        w, c = time.perf_counter(), cpu()
        out = render(report, fmt)
        rows.append((f"{label}: render {fmt}", time.perf_counter() - w, cpu() - c, f"{len(out) / 1024:.0f} KiB"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100_000, help="sidecars to write (default 100000)")
    ap.add_argument("--days", type=int, default=365, help="filing days they are spread over (default 365)")
    ap.add_argument("--archive", type=Path, help="write into (or reuse) this folder instead of a temporary one")
    args = ap.parse_args()

    tmp = None
    if args.archive is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-report-")
        archive = Path(tmp.name) / "archive"
    else:
        archive = args.archive.resolve()
    try:
        if not (archive.parent / "dispatch.csv").exists():
            archive.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            written, _ = write_archive(archive, args.count, args.days)
            print(f"wrote {written} sidecars in {time.perf_counter() - t:.1f}s into {archive}", file=sys.stderr)
        today = datetime.now().astimezone().date()
        yesterday = Period.yesterday(today)
        rows: list[Row] = []
        rows += timed("nightly", archive, yesterday)
        w, c = time.perf_counter(), cpu()
        export = load_expected(archive.parent / "dispatch.csv")
        rows.append(("nightly + export: load_expected", time.perf_counter() - w, cpu() - c, f"{len(export.deliveries)} deliveries"))
        rows += timed("nightly + export", archive, yesterday, expected=export)
        rows += timed("nightly, --full-scan", archive, yesterday, full_scan=True)
        rows += timed(f"all {args.days} days", archive, Period(today - timedelta(days=args.days), yesterday.until))
        w, c = time.perf_counter(), os.times()
        proc = subprocess.run(
            [sys.executable, "-m", "pipeline", "--archive", str(archive), "report", "--expected",
             str(archive.parent / "dispatch.csv"), "--format", "html", "--out", os.devnull],
            capture_output=True, text=True,
        )
        t = os.times()
        child = t.children_user + t.children_system - c.children_user - c.children_system
        rows.append(("signoff report --expected --format html (whole command)", time.perf_counter() - w, child, f"exit {proc.returncode}"))
        width = max(len(r[0]) for r in rows)
        load = os.getloadavg()[0]
        print(f"{args.count} sidecars; load average {load:.1f} on {os.cpu_count()} CPU(s) (wall time suffers when it is high)")
        print(f"{'step'.ljust(width)}  wall s   CPU s  result")
        for label, wall, cpu_s, note in rows:
            print(f"{label.ljust(width)}  {wall:6.3f}  {cpu_s:6.3f}  {note}")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
