"""The nightly completeness report: which deliveries someone must chase (`signoff report`)."""

from __future__ import annotations

from pipeline.report.build import build_report
from pipeline.report.expected import ExpectedDelivery, ExpectedExport, load_expected
from pipeline.report.mail import MailServer, send_report
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
from pipeline.report.render import FORMATS, render

__all__ = [
    "FORMATS",
    "CustomerTotals",
    "DayTotals",
    "DuplicateEntry",
    "Entry",
    "ExpectedDelivery",
    "ExpectedExport",
    "MailServer",
    "OverdueDelivery",
    "Period",
    "QuarantineEntry",
    "Reconciliation",
    "Report",
    "ReportError",
    "Totals",
    "build_report",
    "load_expected",
    "render",
    "send_report",
]
