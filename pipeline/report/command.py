"""What `signoff report` does once its options are parsed: build, render, write, mail; every failure is exit 2."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

from pipeline.errors import ExitCode, PipelineError
from pipeline.report.build import build_report
from pipeline.report.expected import load_expected
from pipeline.report.mail import MailServer, send_report
from pipeline.report.model import Period, ReportError
from pipeline.report.render import render
from pipeline.settings import Settings

__all__ = ["choose_period", "run_report", "write_output"]

log = logging.getLogger(__name__)


def choose_period(day: date | None, since: date | None, until: date | None, today: date) -> Period:
    """--date; or --since/--until (--since alone runs to yesterday, or to itself if later; --until
    alone is one day); or, with none of them, yesterday.

    Raises:
        ReportError: --date given with --since/--until, or the period ends before it starts.
    """
    if day is not None:
        if since is not None or until is not None:
            raise ReportError("give either --date or --since/--until, not both")
        return Period.day(day)
    yesterday = today - timedelta(days=1)
    if since is None:
        return Period.day(until or yesterday)
    return Period(since, until or max(since, yesterday))


def write_output(text: str, out: Path | None) -> None:
    """Print to stdout, or replace `out` whole (a web server never serves half a page)."""
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ReportError(f"cannot write the report to {out}: {exc.strerror or exc}") from None


def run_report(
    settings: Settings,
    *,
    day: date | None = None,
    since: date | None = None,
    until: date | None = None,
    expected: Path | None = None,
    fmt: str = "text",
    out: Path | None = None,
    mail_to: Sequence[str] = (),
    latest_only: bool = True,
    full_scan: bool = False,
    today: date | None = None,
) -> ExitCode:
    """Make the report, write it and mail it; return 1 when something needs chasing, else 0.

    Raises:
        ReportError: for anything that went wrong, so cron sees exit 2 and never mistakes a
            failed report for "nothing to chase" (0) or "something to chase" (1).
    """
    try:
        today = today or datetime.now().astimezone().date()
        period = choose_period(day, since, until, today)
        export = None
        if expected is not None:
            export = load_expected(
                expected,
                delivery_column=settings.expected_delivery_column,
                customer_column=settings.expected_customer_column,
                date_column=settings.expected_date_column,
                date_order=settings.date_order,
            )
        report = build_report(
            settings.archive,
            period,
            quarantine=settings.quarantine,
            expected=export,
            grace_days=settings.report_grace_days,
            as_of=today,
            latest_only=latest_only,
            full_scan=full_scan,
        )
        write_output(render(report, fmt), out)
        if mail_to:
            server = MailServer(
                host=settings.smtp_host or "",
                port=settings.smtp_port,
                sender=settings.smtp_from,
                user=settings.smtp_user,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
            )
            send_report(report, server, mail_to, render(report, "text"), render(report, "html"))
    except ReportError:
        raise
    except PipelineError as exc:  # e.g. ConfigError, ArchiveUnwritable: still "the report failed"
        raise ReportError(exc.message) from exc
    except OSError as exc:
        raise ReportError(f"cannot read the archive: {exc}") from exc
    except Exception as exc:
        # A bug must not exit 1 ("something to chase") as an uncaught exception would: say so, exit 2.
        log.exception("signoff report failed")
        raise ReportError(f"the report failed unexpectedly ({type(exc).__name__}: {exc}); see the log above") from exc
    return report.exit_code
