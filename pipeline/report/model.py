"""The nightly report as data: frozen records that every renderer reads and nothing else computes."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pipeline.errors import ExitCode, ReasonCode, SetupError

__all__ = [
    "CustomerTotals",
    "DayTotals",
    "DuplicateEntry",
    "Entry",
    "OverdueDelivery",
    "Period",
    "QuarantineEntry",
    "Reconciliation",
    "Report",
    "ReportError",
    "Totals",
]


class ReportError(SetupError):
    """The report could not be made or sent: exit 2, so cron can tell it from "something to chase" (1)."""

    exit_code = ExitCode.USAGE
    reason = ReasonCode.CONFIG


@dataclass(frozen=True, slots=True)
class Period:
    """The days a report covers, both ends included, as days of the office's clock."""

    since: date
    until: date

    def __post_init__(self) -> None:
        if self.until < self.since:
            raise ReportError(f"the period ends ({self.until}) before it starts ({self.since})")

    @classmethod
    def day(cls, day: date) -> Period:
        return cls(day, day)

    @classmethod
    def yesterday(cls, today: date) -> Period:
        return cls.day(today - timedelta(days=1))

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.since <= day <= self.until

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    def label(self) -> str:
        return str(self.since) if self.since == self.until else f"{self.since} to {self.until}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One filed document on a list: what its newest version says.

    ``why`` is the reason it is listed, for a person: "unsigned, no time" on the chase list,
    "unreadable: signature" or "not a sign-off sheet" on the review list.
    """

    delivery_number: str | None
    customer: str | None
    date: str | None  # receipt day read off the sheet ("YYYY-MM-DD"); None when the time is missing
    filed: date  # the day its newest version was filed (office clock)
    path: str  # archive-relative PDF of the newest version
    kind: str  # "signoff" or "other"
    complete: bool
    statuses: dict[str, str]
    version: int
    why: str
    missing: tuple[str, ...] = ()  # "unsigned", "no time", "no customer", "no items", "no delivery number"
    unreadable: tuple[str, ...] = ()  # field names read as `unreadable`
    overdue_days: int | None = None  # days since delivery, when the dispatch export says it is overdue
    in_export: bool | None = None  # None: no export given


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A file rejected in the period, from its ``<name>.reason.json``."""

    day: date
    path: str  # archive-relative, e.g. "_quarantine/2026-11-23/scan.pdf"
    source: str
    code: str
    message: str
    stage: str
    at: str | None


@dataclass(frozen=True, slots=True)
class DuplicateEntry:
    """A file recorded as a duplicate of a filed PDF (the watcher's ``<name>.duplicate.json``)."""

    day: date
    path: str  # archive-relative, e.g. "_duplicates/2026-11-23/scan.pdf"
    source: str
    of: str | None  # archive-relative path of the filed PDF it repeats
    at: str | None


@dataclass(frozen=True, slots=True)
class OverdueDelivery:
    """A delivery past its grace period with no valid sign-off in the archive."""

    delivery_number: str
    customer: str | None  # as the export names it
    date: date
    days: int  # days since the delivery date
    why: str  # "no sheet back", or "only an incomplete sheet: unsigned"
    path: str | None  # the incomplete sheet's PDF, when there is one


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """The archive against the dispatch system's export."""

    source: str  # the CSV's file name
    grace_days: int
    expected: int  # distinct deliveries in the export
    returned: int  # ... with a complete sheet in the archive
    pending: int  # ... without one, but still within the grace period
    overdue: tuple[OverdueDelivery, ...]  # ... past the grace period, not already on the chase list
    not_in_export: tuple[Entry, ...]  # sheets filed in the period whose delivery number the export lacks
    skipped_rows: int  # rows with no delivery number or an unreadable date


@dataclass(frozen=True, slots=True)
class Totals:
    """Counts for the period. ``filed = complete + incomplete + other``."""

    filed: int = 0
    complete: int = 0
    incomplete: int = 0
    other: int = 0  # pages that are not sign-off sheets
    unreadable: int = 0  # sign-off sheets with at least one field read as `unreadable`
    rescans: int = 0  # files filed in the period for a delivery already filed before
    duplicates: int = 0
    quarantined: int = 0


@dataclass(frozen=True, slots=True)
class CustomerTotals:
    """Counts for one customer's sign-off sheets (None: the customer could not be read)."""

    customer: str | None
    filed: int = 0
    complete: int = 0
    incomplete: int = 0
    unreadable: int = 0
    rescans: int = 0


@dataclass(frozen=True, slots=True)
class DayTotals:
    """Counts for one filing day, for the chart."""

    day: date
    complete: int = 0
    incomplete: int = 0
    other: int = 0


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the nightly report says; renderers only format it."""

    period: Period
    generated_at: datetime
    as_of: date  # the day overdue deliveries are counted from
    archive: str
    latest_only: bool  # True: one entry per delivery, its newest version
    totals: Totals
    customers: tuple[CustomerTotals, ...]  # worst first
    days: tuple[DayTotals, ...]
    chase: tuple[Entry, ...]
    review: tuple[Entry, ...]
    quarantine: tuple[QuarantineEntry, ...]
    duplicates: tuple[DuplicateEntry, ...]
    reconciliation: Reconciliation | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def overdue(self) -> tuple[OverdueDelivery, ...]:
        return self.reconciliation.overdue if self.reconciliation else ()

    @property
    def not_in_export(self) -> tuple[Entry, ...]:
        return self.reconciliation.not_in_export if self.reconciliation else ()

    @property
    def to_chase(self) -> int:
        """Sheets, deliveries and files someone must act on: what makes the exit code 1."""
        return len(self.chase) + len(self.overdue) + len(self.quarantine)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.ATTENTION if self.to_chase else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        """The whole report as JSON-ready data (dates as ISO strings)."""
        data = _plain(dataclasses.asdict(self))
        data["to_chase"] = self.to_chase
        return data


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value
