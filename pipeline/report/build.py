"""build_report: what was filed in a period, what is missing from it, and what someone must chase.

Decisions (README, "The nightly report"):

* A sheet belongs to the day it was filed (its sidecar's ``processed_at`` on the office's
  clock), not to the date read off it: that date is missing exactly on the undated sheets the
  report must show, and a sheet signed last week but scanned yesterday is yesterday's news.
* One delivery, one entry: the versions of a delivery number (rescans, also in another customer
  folder) count once, and what the newest version says is what counts, even when it was filed
  after the period: a sheet rescanned since with a signature is no longer chased.
  ``latest_only=False`` lists every file filed in the period instead.
* The archive is described as it is now; overdue deliveries are counted to ``as_of`` (today).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from pipeline.report.expected import ExpectedExport
from pipeline.report.model import (
    CustomerTotals,
    DayTotals,
    DuplicateEntry,
    Entry,
    OverdueDelivery,
    Period,
    QuarantineEntry,
    Reconciliation,
    Report,
    ReportError,
    Totals,
)
from pipeline.report.scan import (
    ArchiveFile,
    SheetRecord,
    delivery_key,
    list_archive,
    read_duplicates,
    read_quarantine,
    read_sheet,
)

__all__ = ["MISSING_LABELS", "build_report"]

log = logging.getLogger(__name__)

# What the chase list says for each required field found `missing`, in the order it says it.
MISSING_LABELS = {"signature": "unsigned", "time": "no time", "customer": "no customer", "items": "no items"}
FIELD_ORDER = ("customer", "items", "time", "signature", "receiver")
_SLACK = 86400.0  # seconds: a file server's clock may run behind ours
_CHART_DAYS = 92  # a longer period charts only the days something was filed


def build_report(
    archive: Path,
    period: Period,
    *,
    quarantine: Path | None = None,
    duplicates: Path | None = None,
    expected: ExpectedExport | None = None,
    grace_days: int = 3,
    as_of: date | None = None,
    tz: tzinfo | None = None,
    latest_only: bool = True,
    full_scan: bool = False,
    now: datetime | None = None,
) -> Report:
    """Read the archive's sidecars, quarantine and duplicate records into a Report; writes nothing.

    Args:
        archive: the archive root.
        period: the filing days to report on (office clock).
        quarantine: the quarantine folder (default ``archive/_quarantine``).
        duplicates: where duplicates are recorded (default ``archive/_duplicates``; may not exist).
        expected: the dispatch export, for reconciliation.
        grace_days: days after its delivery date before a delivery with no valid sign-off is overdue.
        as_of: the day overdue deliveries are counted to (default: today on the office clock).
        tz: the office's clock (default: this machine's local time zone).
        latest_only: one entry per delivery (its newest version); False: every file filed.
        full_scan: read every sidecar, not only those modified since the period began.
        now: the report's time stamp (tests).

    Raises:
        ReportError: the archive is not a directory or cannot be listed.
    """
    started = time.perf_counter()
    archive = Path(archive)
    now = now or datetime.now(timezone.utc)
    as_of = as_of or now.astimezone(tz).date()
    if not archive.is_dir():
        raise ReportError(f"the archive {archive} is not a directory (check `archive` in signoff.toml)")
    start = datetime.combine(period.since, datetime.min.time(), tz or datetime.now().astimezone().tzinfo)
    since = None if full_scan else start.timestamp() - _SLACK
    try:
        files = list(list_archive(archive, since=since))
    except OSError as exc:
        raise ReportError(f"cannot list the archive {archive}: {exc}") from None
    by_key: dict[tuple[str, str], list[ArchiveFile]] = defaultdict(list)
    for f in files:
        by_key[f.key].append(f)

    reader = _Reader(tz)
    in_period = [r for r in reader.read_all(f for f in files if f.recent) if r.filed in period]

    # A delivery's other versions (older ones, or one in another folder) decide its newest version
    # and whether a file is a rescan: read them too (few: most deliveries have one file).
    keys = {r.file.key for r in in_period}
    versions = {key: _oldest_first(reader.read_all(by_key[key])) for key in keys}
    # A rescan: a file with a higher version number, or filed after another file of its delivery.
    rescanned = {r.file.path for r in in_period if r.version > 1 or versions[r.file.key][0] is not r}
    rescans = len(rescanned)

    dated = _entries(in_period, versions, latest_only)
    entries = [e for e, _ in dated]
    chase = [e for e in entries if e.kind == "signoff" and not e.complete]
    review = [e for e in entries if e.kind != "signoff" or (e.complete and e.unreadable)]
    quarantined = _quarantine(archive, quarantine or archive / "_quarantine", period)
    dups = _duplicates(archive, duplicates or archive / "_duplicates", period)

    reconciliation = None
    if expected is not None:
        reconciliation, chase = _reconcile(expected, entries, chase, by_key, reader, grace_days, as_of)

    signoff = [e for e in entries if e.kind == "signoff"]
    totals = Totals(
        filed=len(entries),
        complete=sum(1 for e in signoff if e.complete),
        incomplete=sum(1 for e in signoff if not e.complete),
        other=len(entries) - len(signoff),
        unreadable=sum(1 for e in signoff if e.unreadable),
        rescans=rescans,
        duplicates=len(dups),
        quarantined=len(quarantined),
    )
    report = Report(
        period=period,
        generated_at=now.astimezone(tz).replace(microsecond=0),
        as_of=as_of,
        archive=str(archive),
        latest_only=latest_only,
        totals=totals,
        customers=_per_customer(signoff, in_period, versions, rescanned),
        days=_per_day(dated, period),
        chase=tuple(sorted(chase, key=_chase_order)),
        review=tuple(sorted(review, key=lambda e: (e.kind != "other", e.filed, e.delivery_number or "", e.path))),
        quarantine=tuple(quarantined),
        duplicates=tuple(dups),
        reconciliation=reconciliation,
        warnings=tuple(reader.warnings()),
    )
    log.info(
        "report %s: %d sidecar(s) listed, %d read, %d filed in the period, %.2fs",
        period.label(), len(files), reader.count, totals.filed, time.perf_counter() - started,
    )
    return report


class _Reader:
    """Reads each sidecar at most once; remembers how many could not be used."""

    def __init__(self, tz: tzinfo | None) -> None:
        self.tz = tz
        self.cache: dict[str, SheetRecord | None] = {}
        self.count = 0

    def read_all(self, files: Iterable[ArchiveFile]) -> list[SheetRecord]:
        out = []
        for f in files:
            if f.path not in self.cache:
                self.cache[f.path] = read_sheet(f, self.tz)
                self.count += 1
            record = self.cache[f.path]
            if record is not None:
                out.append(record)
        return out

    def warnings(self) -> list[str]:
        bad = sorted(p for p, r in self.cache.items() if r is None)
        if not bad:
            return []
        shown = ", ".join(bad[:5]) + (" …" if len(bad) > 5 else "")
        return [f"{len(bad)} sidecar(s) could not be read and are not counted: {shown}"]


def _oldest_first(records: list[SheetRecord]) -> list[SheetRecord]:
    return records if len(records) < 2 else sorted(records, key=lambda r: r.order)


def _entries(
    in_period: list[SheetRecord], versions: dict[tuple[str, str], list[SheetRecord]], latest_only: bool
) -> list[tuple[Entry, date]]:
    """The period's entries, each with the day it counts on in the chart (its last filing in the period)."""
    if not latest_only:
        return [(_entry(r), r.filed) for r in in_period]
    last_day: dict[tuple[str, str], date] = {}
    for r in in_period:
        last_day[r.file.key] = max(r.filed, last_day.get(r.file.key, r.filed))
    # Sheets without a delivery number have an id from their content: each is its own delivery.
    return [(_entry(versions[key][-1]), last_day[key]) for key in sorted(last_day)]


def _entry(r: SheetRecord) -> Entry:
    statuses = {name: r.statuses[name] for name in FIELD_ORDER if name in r.statuses}
    if len(statuses) < len(r.statuses):  # fields a later sheet format may add: after ours
        statuses.update({k: v for k, v in sorted(r.statuses.items()) if k not in statuses})
    unreadable = tuple(name for name, status in statuses.items() if status == "unreadable")
    missing: tuple[str, ...] = ()
    if r.kind == "signoff" and not r.complete:
        missing = tuple(
            label for name, label in MISSING_LABELS.items() if r.statuses.get(name, "missing") == "missing"
        )
        if not r.delivery_number:
            missing = ("no delivery number", *missing)
        why = ", ".join(missing) or "incomplete"
    elif r.kind != "signoff":
        why = "not a sign-off sheet"
    elif unreadable:
        why = "unreadable: " + ", ".join(unreadable)
    else:
        why = ""
    return Entry(
        delivery_number=r.delivery_number,
        customer=r.customer,
        date=r.date,
        filed=r.filed,
        path=r.file.rel_pdf,
        kind=r.kind,
        complete=r.complete and r.kind == "signoff",
        statuses=statuses,
        version=r.version,
        why=why,
        missing=missing,
        unreadable=unreadable,
    )


def _chase_order(e: Entry) -> tuple[int, date, str, str]:
    # Overdue first, oldest delivery first; then by filing day and delivery number.
    return (-(e.overdue_days or -1), e.filed, e.delivery_number or "~", e.path)


def _quarantine(archive: Path, folder: Path, period: Period) -> list[QuarantineEntry]:
    out = []
    for rec in read_quarantine(archive, folder, period.since, period.until):
        out.append(
            QuarantineEntry(
                day=rec["day"],
                path=rec["path"],
                source=str(rec.get("source") or rec["name"]),
                code=str(rec.get("code") or "unknown"),
                message=str(rec.get("message") or "no reason recorded"),
                stage=str(rec.get("stage") or ""),
                at=rec.get("at") if isinstance(rec.get("at"), str) else None,
            )
        )
    return out


def _duplicates(archive: Path, folder: Path, period: Period) -> list[DuplicateEntry]:
    out = []
    for rec in read_duplicates(archive, folder, period.since, period.until):
        out.append(
            DuplicateEntry(
                day=rec["day"],
                path=rec["path"],
                source=str(rec.get("source") or Path(rec["path"]).name),
                of=rec.get("of") if isinstance(rec.get("of"), str) else None,
                at=rec.get("at") if isinstance(rec.get("at"), str) else None,
            )
        )
    return out


def _reconcile(
    export: ExpectedExport,
    entries: list[Entry],
    chase: list[Entry],
    by_key: dict[tuple[str, str], list[ArchiveFile]],
    reader: _Reader,
    grace_days: int,
    as_of: date,
) -> tuple[Reconciliation, list[Entry]]:
    """Deliveries past the grace period with no valid sign-off, and sheets the export does not know."""
    chase_by_key = {delivery_key(e.delivery_number): i for i, e in enumerate(chase) if e.delivery_number}
    chase = list(chase)
    returned = pending = 0
    overdue: list[OverdueDelivery] = []
    for d in export.deliveries:
        key = delivery_key(d.delivery_number)
        records = _oldest_first(reader.read_all(by_key.get(("signoff", key), [])))
        newest = records[-1] if records else None
        if newest is not None and newest.complete:
            returned += 1
            continue
        if d.date is None:
            continue  # counted in skipped_rows: cannot tell whether it is overdue
        days = (as_of - d.date).days
        if days <= grace_days:
            pending += 1
            continue
        if key in chase_by_key:  # already on the chase list: say it is overdue there, not twice
            i = chase_by_key[key]
            chase[i] = _with(chase[i], overdue_days=days)
            continue
        if newest is None:
            overdue.append(OverdueDelivery(d.delivery_number, d.customer, d.date, days, "no sheet back", None))
        else:
            why = ", ".join(_entry(newest).missing) or "incomplete"
            overdue.append(
                OverdueDelivery(
                    d.delivery_number, d.customer, d.date, days, f"only an incomplete sheet: {why}", newest.file.rel_pdf
                )
            )
    overdue.sort(key=lambda o: (o.date, o.delivery_number))
    known = {delivery_key(d.delivery_number) for d in export.deliveries}

    def listed(e: Entry) -> bool:
        return e.delivery_number is not None and delivery_key(e.delivery_number) in known

    chase = [_with(e, in_export=listed(e)) if e.delivery_number else e for e in chase]
    missing_from_export = tuple(
        sorted(
            (_with(e, in_export=False) for e in entries if e.kind == "signoff" and e.delivery_number and not listed(e)),
            key=lambda e: (e.filed, e.delivery_number or "", e.path),
        )
    )
    rec = Reconciliation(
        source=export.source,
        grace_days=grace_days,
        expected=len(export.deliveries),
        returned=returned,
        pending=pending,
        overdue=tuple(overdue),
        not_in_export=missing_from_export,
        skipped_rows=export.skipped_rows,
    )
    return rec, chase


def _with(e: Entry, **changes: Any) -> Entry:
    return dataclasses.replace(e, **changes)


def _per_customer(
    signoff: list[Entry],
    in_period: list[SheetRecord],
    versions: dict[tuple[str, str], list[SheetRecord]],
    rescanned: set[str],
) -> tuple[CustomerTotals, ...]:
    counts: dict[str | None, Counter[str]] = defaultdict(Counter)
    for e in signoff:
        c = counts[e.customer]
        c["filed"] += 1
        c["complete" if e.complete else "incomplete"] += 1
        c["unreadable"] += bool(e.unreadable)
    for r in in_period:
        if r.kind == "signoff" and r.file.path in rescanned:
            counts[versions[r.file.key][-1].customer]["rescans"] += 1
    rows = [CustomerTotals(customer=name, **c) for name, c in counts.items()]

    def worst(t: CustomerTotals) -> tuple[int, float, int, int, str]:
        return (-t.incomplete, -(t.incomplete / t.filed if t.filed else 0.0), -t.unreadable, -t.filed, t.customer or "")

    return tuple(sorted(rows, key=worst))


def _per_day(dated: list[tuple[Entry, date]], period: Period) -> tuple[DayTotals, ...]:
    counts: dict[date, Counter[str]] = defaultdict(Counter)
    for e, day in dated:
        counts[day]["other" if e.kind != "signoff" else "complete" if e.complete else "incomplete"] += 1
    if period.days <= _CHART_DAYS:
        days = [period.since + timedelta(days=i) for i in range(period.days)]
    else:
        days = sorted(counts)
    return tuple(DayTotals(day, **counts.get(day, Counter())) for day in days)
