"""What people see: result tables, search hits and progress bars (stdout for data, stderr for bars)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from pipeline.document import ScanDoc
from pipeline.run import FileOutcome

__all__ = ["doc_row", "echo_json", "hits_table", "outcome_rows", "progress", "rows_table"]

STATUS_STYLE = {"ok": "green", "unreadable": "yellow", "missing": "red"}


def stdout() -> Console:
    # A wide virtual terminal when piped, so paths are not wrapped mid-way for scripts and logs.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200, highlight=False)


def echo_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def progress(total: int, label: str) -> Iterator[Any]:
    """A progress bar on stderr (hidden when stderr is not a terminal, e.g. under cron)."""
    console = Console(file=sys.stderr)
    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda n=1: bar.advance(task, n)


def doc_row(doc: ScanDoc, where: str, outcome: str = "") -> dict[str, Any]:
    time = doc.field("time")
    customer = doc.field("customer")
    return {
        "source": str(doc.source),
        "pages": doc.page_numbers,
        "kind": doc.kind,
        "delivery_number": doc.delivery_number,
        "customer": customer.value if customer.status.value == "ok" else None,
        "date": str(time.value)[:10] if time.status.value == "ok" and time.value else None,
        "statuses": {n: doc.field(n).status.value for n in ("customer", "items", "time", "signature")},
        "complete": doc.complete,
        "outcome": outcome,
        "path": where,
    }


def outcome_rows(outcomes: Iterable[FileOutcome], archive: Path) -> list[dict[str, Any]]:
    rows = []
    for o in outcomes:
        if o.error is not None:
            rows.append(
                {
                    "source": str(o.source),
                    "outcome": "quarantined",
                    "reason": str(o.error.reason),
                    "message": o.error.message,
                    "path": _rel(o.quarantined, archive) if o.quarantined else None,
                }
            )
            continue
        if o.planned:
            rows.extend(doc_row(d, _rel(p, archive), "planned") for d, p in zip(o.docs, o.planned))
            continue
        for f in o.filed:
            rows.append(doc_row(f.doc, _rel(f.pdf, archive), f.outcome))
    return rows


def _rel(path: Path, base: Path) -> str:
    try:
        return f"{base.name}/{path.relative_to(base).as_posix()}"
    except ValueError:
        return str(path)


def _status(s: str) -> str:
    return f"[{STATUS_STYLE.get(s, 'white')}]{s}[/]"


def rows_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, header_style="bold")
    for col in ("Delivery", "Customer", "Date", "Cust.", "Items", "Time", "Signature", "Complete", "Filed at"):
        table.add_column(col, overflow="fold")
    for r in rows:
        if r.get("outcome") == "quarantined":
            table.add_row(
                "-", "-", "-", "", "", "", "", "[red]quarantined[/]",
                escape(f"{r['path']}  ({r['reason']}: {r['message']})"),
            )
            continue
        st = r["statuses"]
        where = r["path"] + (f"  [dim]({r['outcome']})[/]" if r["outcome"] not in ("filed", "") else "")
        table.add_row(
            escape(r["delivery_number"] or "—"),
            escape(r["customer"] or "—"),
            r["date"] or "—",
            _status(st["customer"]),
            _status(st["items"]),
            _status(st["time"]),
            _status(st["signature"]),
            "[green]yes[/]" if r["complete"] else "[red]no[/]",
            where if r["kind"] == "signoff" else f"{where} [dim](not a sign-off sheet)[/]",
        )
    return table


_MARK = re.compile(r"\[\[(.+?)\]\]")


def hits_table(hits: Sequence[Any], title: str) -> Table:
    table = Table(title=title, header_style="bold")
    for col in ("Delivery", "Customer", "Date", "Complete", "Path", "Snippet"):
        table.add_column(col, overflow="fold")
    for h in hits:
        parts = _MARK.split(h.snippet.replace("\n", " "))
        # «» keep the marks visible where colour is lost (a pipe, a log file, cron mail).
        snippet = "".join(escape(p) if i % 2 == 0 else f"«[bold reverse]{escape(p)}[/]»" for i, p in enumerate(parts))
        table.add_row(
            escape(h.delivery_number or "—"),
            escape(h.customer or "—"),
            h.date or "—",
            "[green]yes[/]" if h.complete else "[red]no[/]",
            escape(h.path),
            snippet,
        )
    return table
