"""The dispatch system's export for `signoff report --expected`: which deliveries went out, and when."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pipeline.dates import find_datetime
from pipeline.report.model import ReportError
from pipeline.report.scan import delivery_key

__all__ = ["ExpectedDelivery", "ExpectedExport", "load_expected"]

log = logging.getLogger(__name__)

_DELIMITERS = ",;\t|"


@dataclass(frozen=True, slots=True)
class ExpectedDelivery:
    """One delivery the dispatch system says went out."""

    delivery_number: str
    customer: str | None
    date: date | None  # None when no row for it has a readable date
    line: int  # the first CSV line that names it


@dataclass(frozen=True, slots=True)
class ExpectedExport:
    """A dispatch export, one entry per delivery number (an export with a row per item line is merged)."""

    source: str
    deliveries: tuple[ExpectedDelivery, ...]
    skipped_rows: int  # rows without a delivery number, and deliveries without a readable date


def _decode(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Spreadsheet programs on Windows still save "CSV" in the ANSI code page.
        log.warning("report: %s is not UTF-8; reading it as Windows-1252", path.name)
        return data.decode("cp1252", errors="replace")


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _column(header: list[str], wanted: str, key: str, path: Path, required: bool) -> int | None:
    names = [h.strip().casefold() for h in header]
    try:
        return names.index(wanted.strip().casefold())
    except ValueError:
        if not required:
            return None
        found = ", ".join(repr(h.strip()) for h in header) or "none"
        raise ReportError(
            f"{path}: no column {wanted!r} (columns found: {found}); "
            f"set {key} in signoff.toml to the export's column name"
        ) from None


def parse_day(text: str, date_order: str) -> date | None:
    """A delivery date as exports write it: ISO first, else the shapes sheets use, in the deployment's order."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        pass
    parsed = find_datetime(text, date_order)
    return parsed.value.date() if parsed else None


def load_expected(
    path: Path,
    *,
    delivery_column: str = "delivery_number",
    customer_column: str = "customer",
    date_column: str = "delivery_date",
    date_order: str = "DMY",
) -> ExpectedExport:
    """Read the export: a header row, then one row per delivery (or per item line); extra columns ignored.

    The delimiter (comma, semicolon, tab or bar) is taken from the header row. A delivery listed
    on several rows keeps its earliest date.

    Raises:
        ReportError: the file cannot be read, or lacks the delivery-number or date column.
    """
    path = Path(path)
    try:
        text = _decode(path.read_bytes(), path)
    except OSError as exc:
        raise ReportError(f"cannot read the dispatch export {path}: {exc.strerror or exc}") from None
    first = text.split("\n", 1)[0]
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first))
    try:
        header = next(rows)
    except StopIteration:
        raise ReportError(f"{path}: the dispatch export is empty") from None
    except csv.Error as exc:
        raise ReportError(f"{path}: not a readable CSV file ({exc})") from None
    dn_col = _column(header, delivery_column, "expected_delivery_column", path, True)
    date_col = _column(header, date_column, "expected_date_column", path, True)
    cust_col = _column(header, customer_column, "expected_customer_column", path, False)
    assert dn_col is not None and date_col is not None

    found: dict[str, ExpectedDelivery] = {}
    no_number = 0
    bad_dates: list[int] = []
    try:
        for row in rows:
            line = rows.line_num
            if not any(cell.strip() for cell in row):
                continue
            number = row[dn_col].strip() if dn_col < len(row) else ""
            if not number:
                no_number += 1
                continue
            day = parse_day(row[date_col], date_order) if date_col < len(row) else None
            if day is None:
                bad_dates.append(line)
            customer = row[cust_col].strip() or None if cust_col is not None and cust_col < len(row) else None
            key = delivery_key(number)
            seen = found.get(key)
            if seen is None:
                found[key] = ExpectedDelivery(number, customer, day, line)
            elif day is not None and (seen.date is None or day < seen.date):
                found[key] = ExpectedDelivery(seen.delivery_number, seen.customer or customer, day, seen.line)
    except csv.Error as exc:
        raise ReportError(f"{path}, line {rows.line_num}: not a readable CSV row ({exc})") from None
    undated = sum(1 for d in found.values() if d.date is None)
    if no_number:
        log.warning("report: %s: %d row(s) without a delivery number ignored", path.name, no_number)
    if undated:
        lines = ", ".join(str(n) for n in bad_dates[:10])
        log.warning("report: %s: %d delivery(ies) without a readable date (lines %s)", path.name, undated, lines)
    return ExpectedExport(path.name, tuple(found.values()), no_number + undated)
