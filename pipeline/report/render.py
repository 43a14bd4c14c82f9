"""Plain renderers of a Report: text (terminal and cron mail), Markdown, CSV and JSON. They compute nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Sequence

from rich.cells import cell_len

from pipeline.report.model import Entry, Report

__all__ = ["FORMATS", "action_rows", "render", "render_csv", "render_json", "render_md", "render_text", "summary_line", "totals_items"]

NONE = "—"
CSV_COLUMNS = ("list", "why", "delivery_number", "customer", "date", "filed", "days_overdue", "path")


def render(report: Report, fmt: str) -> str:
    """The report in one of FORMATS ("text", "md", "csv", "json", "html")."""
    try:
        fn = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown report format {fmt!r}: expected one of {', '.join(FORMATS)}") from None
    return fn(report)


def totals_items(report: Report) -> list[tuple[str, int]]:
    """The totals as (label, number), in the order every format shows them."""
    t = report.totals
    return [
        ("filed", t.filed),
        ("complete", t.complete),
        ("incomplete", t.incomplete),
        ("other", t.other),
        ("with unreadable fields", t.unreadable),
        ("rescans", t.rescans),
        ("duplicates", t.duplicates),
        ("quarantined", t.quarantined),
    ]


def summary_line(report: Report) -> str:
    """One line that says whether anything needs chasing (the mail's subject says the same)."""
    if not report.to_chase:
        return "Nothing to chase."
    parts = [f"{len(report.chase)} incomplete sheet(s)"]
    if report.reconciliation is not None:
        parts.append(f"{len(report.overdue)} overdue delivery(ies)")
    parts.append(f"{len(report.quarantine)} quarantined file(s)")
    return f"{report.to_chase} TO CHASE: " + ", ".join(parts) + "."


def _title(report: Report) -> str:
    return f"signoff report: sheets filed {report.period.label()}"


def _subtitle(report: Report) -> str:
    versions = "newest version of each delivery" if report.latest_only else "every version filed"
    return f"archive {report.archive} · made {report.generated_at:%Y-%m-%d %H:%M %z} · {versions}"


# -- the lists, as rows of cells, shared by text and Markdown -----------------------------------
Section = tuple[str, tuple[str, ...], list[tuple[str, ...]]]


def _d(value: object) -> str:
    return NONE if value is None or value == "" else str(value)


def _sections(report: Report) -> Iterator[Section]:
    def sheet_rows(entries: Sequence[Entry], why: Callable[[Entry], str]) -> list[tuple[str, ...]]:
        return [(_d(e.delivery_number), _d(e.customer), _d(e.date), why(e), str(e.filed), e.path) for e in entries]

    def chase_why(e: Entry) -> str:
        extra = [f"overdue {e.overdue_days} days"] if e.overdue_days is not None else []
        extra += ["not in the export"] if e.in_export is False else []
        return "; ".join([e.why, *extra])

    sheet_cols = ("Delivery", "Customer", "Date", "Missing", "Filed", "Archive path")
    yield (f"CHASE LIST: incomplete sheets ({len(report.chase)})", sheet_cols, sheet_rows(report.chase, chase_why))
    rec = report.reconciliation
    if rec is not None:
        yield (
            f"OVERDUE: no valid sign-off more than {rec.grace_days} day(s) after delivery, oldest first ({len(rec.overdue)})",
            ("Delivery", "Customer", "Delivered", "Days", "Why", "Archive path"),
            [(o.delivery_number, _d(o.customer), str(o.date), str(o.days), o.why, _d(o.path)) for o in rec.overdue],
        )
    yield (
        f"QUARANTINED FILES ({len(report.quarantine)})",
        ("Day", "File", "Reason", "Message"),
        [(str(q.day), q.path, q.code, q.message) for q in report.quarantine],
    )
    yield (
        f"REVIEW LIST: complete but partly unreadable, or not a sign-off sheet ({len(report.review)})",
        ("Delivery", "Customer", "Date", "Why", "Filed", "Archive path"),
        sheet_rows(report.review, lambda e: e.why),
    )
    if rec is not None:
        yield (
            f"NOT IN THE DISPATCH EXPORT: sheets filed whose delivery number {rec.source} lacks ({len(rec.not_in_export)})",
            ("Delivery", "Customer", "Date", "Complete", "Filed", "Archive path"),
            sheet_rows(rec.not_in_export, lambda e: "yes" if e.complete else "no"),
        )


def _customer_rows(report: Report) -> list[tuple[str, ...]]:
    return [
        (_d(c.customer or "(no customer read)"), str(c.filed), str(c.complete), str(c.incomplete), str(c.unreadable), str(c.rescans))
        for c in report.customers
    ]


CUSTOMER_COLS = ("Customer", "Filed", "Complete", "Incomplete", "Unreadable", "Rescans")


def _reconciliation_line(report: Report) -> str | None:
    rec = report.reconciliation
    if rec is None:
        return None
    return (
        f"export {rec.source}: {rec.expected} deliveries · {rec.returned} back complete · "
        f"{rec.pending} within the grace period · {len(rec.overdue)} overdue · "
        f"{len(rec.not_in_export)} sheet(s) not in the export · {rec.skipped_rows} row(s) skipped"
    )


# -- text -------------------------------------------------------------------------------------
def _pad(text: str, width: int) -> str:
    return text + " " * (width - cell_len(text))


def _text_table(cols: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max([cell_len(c), *(cell_len(r[i]) for r in rows)]) for i, c in enumerate(cols)]
    lines = []
    for row in [tuple(cols), *rows]:
        cells = [_pad(cell, widths[i]) if i < len(cols) - 1 else cell for i, cell in enumerate(row)]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def render_text(report: Report) -> str:
    """A plain-text summary, the chase list first; fit for a terminal and for cron's mail."""
    out = [_title(report), _subtitle(report), "", summary_line(report), ""]
    for title, cols, rows in _sections(report):
        out.append(title)
        out.extend(_text_table(cols, rows) if rows else ["  none"])
        out.append("")
    out.append("TOTALS")
    out.append("  " + " · ".join(f"{label} {n}" for label, n in totals_items(report)))
    if line := _reconciliation_line(report):
        out.append("  " + line)
    out.append("")
    out.append("PER CUSTOMER (worst first)")
    out.extend(_text_table(CUSTOMER_COLS, _customer_rows(report)) if report.customers else ["  none"])
    for warning in report.warnings:
        out.extend(["", f"WARNING: {warning}"])
    return "\n".join(out) + "\n"


# -- Markdown ---------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(cols: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_md(report: Report) -> str:
    """Markdown for pasting into a ticket or a chat: the same sections as text, as tables."""
    out = [f"# {_md_cell(_title(report))}", "", _md_cell(_subtitle(report)), "", f"**{summary_line(report)}**", ""]
    for title, cols, rows in _sections(report):
        out += [f"## {_md_cell(title.capitalize())}", ""]
        out += (_md_table(cols, rows) if rows else ["none"]) + [""]
    out += ["## Totals", ""]
    out += _md_table([label for label, _ in totals_items(report)], [[str(n) for _, n in totals_items(report)]])
    if line := _reconciliation_line(report):
        out += ["", _md_cell(line)]
    out += ["", "## Per customer (worst first)", ""]
    out += _md_table(CUSTOMER_COLS, _customer_rows(report)) if report.customers else ["none"]
    for warning in report.warnings:
        out += ["", f"> **Warning:** {_md_cell(warning)}"]
    return "\n".join(out) + "\n"


# -- CSV --------------------------------------------------------------------------------------
def action_rows(report: Report) -> list[dict[str, str]]:
    """One row per sheet, delivery or file needing action; a sheet on two lists is one row, both reasons in `why`."""
    rows: dict[str, dict[str, str]] = {}

    def add(key: str, row: dict[str, str]) -> None:
        if key in rows:
            rows[key]["why"] += "; " + row["why"]
        else:
            rows[key] = row

    def sheet(e: Entry, lst: str, why: str) -> None:
        add(
            "sheet:" + e.path,
            {
                "list": lst,
                "why": why,
                "delivery_number": e.delivery_number or "",
                "customer": e.customer or "",
                "date": e.date or "",
                "filed": str(e.filed),
                "days_overdue": "" if e.overdue_days is None else str(e.overdue_days),
                "path": e.path,
            },
        )

    for e in report.chase:
        sheet(e, "chase", e.why + (f"; overdue {e.overdue_days} days" if e.overdue_days is not None else ""))
    for o in report.overdue:
        add(
            "delivery:" + o.delivery_number,
            {
                "list": "overdue",
                "why": o.why,
                "delivery_number": o.delivery_number,
                "customer": o.customer or "",
                "date": str(o.date),
                "filed": "",
                "days_overdue": str(o.days),
                "path": o.path or "",
            },
        )
    for q in report.quarantine:
        add(
            "file:" + q.path,
            {
                "list": "quarantine",
                "why": f"quarantined: {q.code}: {q.message}",
                "delivery_number": "",
                "customer": "",
                "date": "",
                "filed": str(q.day),
                "days_overdue": "",
                "path": q.path,
            },
        )
    for e in report.review:
        sheet(e, "review", e.why)
    for e in report.not_in_export:
        sheet(e, "not_in_export", "not in the dispatch export")
    return list(rows.values())


def render_csv(report: Report) -> str:
    """CSV for a spreadsheet: one row per sheet, delivery or file needing action, with a `why` column."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(action_rows(report))
    return buf.getvalue()


# -- JSON -------------------------------------------------------------------------------------
def render_json(report: Report) -> str:
    """The whole report as one JSON object."""
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"


def _render_html(report: Report) -> str:
    from pipeline.report.html import render_html

    return render_html(report)


FORMATS: dict[str, Callable[[Report], str]] = {
    "text": render_text,
    "md": render_md,
    "csv": render_csv,
    "json": render_json,
    "html": _render_html,
}
