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

__all__ = [
    "doc_row",
    "echo_json",
    "hits_table",
    "outcome_rows",
    "print_records",
    "print_results",
    "progress",
    "progress_count",
    "rows_table",
]

STATUS_STYLE = {"ok": "green", "unreadable": "yellow", "missing": "red"}


def stdout() -> Console:
    # A wide virtual terminal when piped, so paths are not wrapped mid-way for scripts and logs.
    return Console(file=sys.stdout, width=None if sys.stdout.isatty() else 200, highlight=False)


def echo_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


@contextmanager
def progress(total: int | None, label: str) -> Iterator[Any]:
    """A progress bar on stderr (hidden when stderr is not a terminal, e.g. under cron).

    Yields ``advance(n=1, total=None)``; a total given there replaces the bar's (None: not known yet).
    """
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
        yield lambda n=1, total=None: bar.update(task, advance=n, total=total)


@contextmanager
def progress_count(total: int, label: str, every: int = 250) -> Iterator[Any]:
    """A progress bar on stderr fed with a running count: yields ``update(n)``.

    Redraws at most every ``every`` items, so a million calls cost next to nothing.
    """
    with progress(total, label) as advance:
        done = 0

        def update(n: int) -> None:
            nonlocal done
            if n - done >= every or n >= total:
                advance(n - done)
                done = n

        yield update


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
        version = getattr(h, "version", 1)
        if version > 1 or not getattr(h, "latest", True):
            marker = f" [dim]v{version}{'' if getattr(h, 'latest', True) else ', superseded'}[/]"
        else:
            marker = ""
        table.add_row(
            escape(h.delivery_number or "—") + marker,
            escape(h.customer or "—"),
            h.date or "—",
            "[green]yes[/]" if h.complete else "[red]no[/]",
            escape(h.path),
            snippet,
        )
    return table


def print_results(results: Any, query: str, archive: Path, *, as_json: bool, as_paths: bool) -> None:
    """Print one page of search results: a table, JSON Lines, or only the PDFs' paths.

    Paths (``--paths``) are full paths of the filed PDFs, one a line, ready for ``xargs``. A
    "did you mean" goes to stderr, where it cannot spoil a script's data.
    """
    for hit in results.hits:
        if as_paths:
            sys.stdout.write(f"{archive / hit.path}\n")
        elif as_json:
            echo_json(hit.to_json())
    if results.hits and not (as_json or as_paths):
        shown = f"{(results.page - 1) * results.limit + 1}-{(results.page - 1) * results.limit + len(results.hits)}"
        total = f"{results.total}" if results.total_exact else f"about {results.total}"
        more = f", page {results.page} of {results.pages}" if results.pages > 1 else ""
        stdout().print(hits_table(results.hits, f"{shown} of {total} hit(s) for: {query}{more}"))
    sys.stdout.flush()
    err = Console(file=sys.stderr, highlight=False)
    if not results.hits:
        if results.total:
            err.print(f"no hits on page {results.page}: {results.total} hit(s) fill {results.pages} page(s)")
        else:
            err.print(f"no sheet matches: {escape(query)}")
        if results.suggestion:
            err.print(f"did you mean: {escape(results.suggestion)}")


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return "; ".join(_value(v) for v in value)
    if isinstance(value, dict):
        if "sku" in value or "description" in value:
            qty = f"{value.get('qty', '')} {value.get('unit') or ''}".strip()
            return " ".join(str(v) for v in (value.get("sku"), value.get("description"), qty) if v)
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def print_records(records: Sequence[Any], *, as_json: bool, others: Sequence[Any] = ()) -> None:
    """Print full sheet records (``signoff show``): every value and status, the path, the OCR text.

    Args:
        records: the records to print (pipeline.index.Record).
        as_json: one JSON object per record (the sidecar plus where it is) instead of text.
        others: versions not printed, named in a footnote so nobody misses a rescan.
    """
    if as_json:
        for record in records:
            echo_json(record.to_json())
        return
    out = stdout()
    for record in records:
        side = record.sidecar
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column(overflow="fold")
        version = f"{record.version}" + ("" if record.latest else " (superseded by a newer scan)")
        complete = "[green]yes[/]" if side.get("complete") else "[red]no[/]"
        customer = side.get("customer") or "—"
        if side.get("customer_id"):
            customer = f"{customer} ({side['customer_id']})"
        for label, value in (
            ("Delivery", escape(side.get("delivery_number") or "—")),
            ("Customer", escape(customer)),
            ("Date", escape(side.get("date") or "—")),
            ("Kind", escape(side.get("kind") or "signoff")),
            ("Complete", complete),
            ("Version", version),
            ("PDF", escape(str(record.pdf))),
            ("Sidecar", escape(str(record.pdf.with_suffix(".json")))),
        ):
            table.add_row(label, value)
        fields = side.get("fields") if isinstance(side.get("fields"), dict) else {}
        for name, result in fields.items():
            result = result if isinstance(result, dict) else {}
            status = str(result.get("status", "missing"))
            text = _status(status)
            if "value" in result and result.get("value") is not None:
                text += " " + escape(_value(result["value"]))
            if result.get("note"):
                text += f" [dim]({escape(str(result['note']))})[/]"
            table.add_row(f"  {name}", text)  # the checked fields, indented under the summary
        for note in side.get("notes") or []:
            table.add_row("Note", escape(str(note)))
        source = side.get("source") if isinstance(side.get("source"), dict) else {}
        if source:
            pages = ", ".join(str(p) for p in source.get("pages") or [])
            table.add_row("Scanned from", escape(f"{source.get('name')} (page {pages})"))
        if side.get("processed_at"):
            table.add_row("Filed at", escape(str(side["processed_at"])))
        out.print(table)
        text = side.get("text") or ""
        if text:
            out.print("[bold]Text[/]")
            out.print(escape(text), soft_wrap=True)
        out.print()
    if others:
        names = ", ".join(f"v{o.version} {o.path}" for o in others)
        Console(file=sys.stderr, highlight=False).print(
            f"also filed: {escape(names)} (--all shows every version)"
        )
