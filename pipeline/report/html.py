"""The report as one self-contained HTML page: totals, inline SVG charts, sortable tables; no network requests."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from pipeline.report.model import CustomerTotals, DayTotals, Entry, Report
from pipeline.report.render import NONE, summary_line, totals_items

__all__ = ["render_html"]

COLOURS = {"complete": "#2e7d32", "incomplete": "#c62828", "other": "#9e9e9e"}
# Nothing may be fetched: no fonts, images, scripts or styles from anywhere, not even the same folder.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
MAX_CUSTOMER_BARS = 25

_CSS = """
:root{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Noto Sans CJK SC",sans-serif;color:#1a1a1a;background:#fff}
body{margin:1.5rem auto;max-width:75rem;padding:0 1rem;line-height:1.4}
h1{font-size:1.5rem;margin:0 0 .2rem}h2{font-size:1.15rem;margin:1.8rem 0 .5rem}
.sub{color:#555;margin:0 0 1rem;font-size:.9rem}
.summary{font-size:1.2rem;font-weight:600;padding:.6rem .9rem;border-radius:.4rem}
.summary.chase{background:#fdecea;color:#8e1b1b}.summary.ok{background:#e8f5e9;color:#1b5e20}
.tiles{display:flex;flex-wrap:wrap;gap:.6rem;margin:1rem 0}
.tile{border:1px solid #ddd;border-radius:.4rem;padding:.4rem .8rem;min-width:6.5rem}
.tile b{display:block;font-size:1.5rem}.tile span{color:#555;font-size:.85rem}
.charts{display:flex;flex-wrap:wrap;gap:2rem}figure{margin:0}figcaption{font-weight:600;margin-bottom:.3rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e5e5e5;vertical-align:top}
td.n,th.n{text-align:right}td.path{font-family:ui-monospace,monospace;font-size:.8rem;word-break:break-all}
th button{all:unset;cursor:pointer;font-weight:600}th button:focus{outline:2px solid #1565c0}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
tbody tr:nth-child(even){background:#fafafa}.none{color:#555}.warn{background:#fff8e1;padding:.5rem .8rem}
.legend span{display:inline-block;margin-right:1rem;font-size:.85rem}.legend i{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:-1px}
"""

# Click a column header to sort by it (again for the other way); `#sort=<table id>:<column>[:desc]`
# in the address sorts on load. data-ready marks a page whose script ran to the end.
_JS = """
(function () {
  "use strict";
  function key(cell) {
    var v = cell.getAttribute("data-sort");
    if (v === null) { v = cell.textContent.trim(); }
    var n = Number(v);
    return v !== "" && !isNaN(n) ? n : v.toLowerCase();
  }
  function compare(x, y) {
    if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
    if (typeof x === "number") { return x - y; }
    return x.localeCompare(y);
  }
  function sortBy(table, col, desc) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var c = compare(key(a.cells[col]), key(b.cells[col]));
      return desc ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.setAttribute("aria-sort", i === col ? (desc ? "descending" : "ascending") : "none");
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = th.textContent;
      button.title = "sort by " + th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        sortBy(table, i, th.getAttribute("aria-sort") === "ascending");
      });
    });
  });
  var m = /^#sort=([\\w-]+):(\\d+)(:desc)?$/.exec(window.location.hash);
  if (m) {
    var t = document.getElementById(m[1]);
    if (t) { sortBy(t, Number(m[2]), Boolean(m[3])); }
  }
  document.documentElement.setAttribute("data-ready", "1");
})();
"""


def _e(value: object) -> str:
    return escape(NONE if value is None or value == "" else str(value))


def _table(
    table_id: str, cols: Sequence[str], rows: Sequence[Sequence[tuple[str, str]]], numeric: Sequence[int] = ()
) -> str:
    """A sortable table; each cell is (css class, already escaped html). Empty: a "none" line."""
    if not rows:
        return '<p class="none">none</p>'
    head = "".join(
        f'<th scope="col"{_cls("n" if i in numeric else "")}>{escape(c)}</th>' for i, c in enumerate(cols)
    )
    body = "".join("<tr>" + "".join(f"<td{_cls(cls)}>{cell}</td>" for cls, cell in row) + "</tr>" for row in rows)
    return f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cls(css: str) -> str:
    return f' class="{css}"' if css else ""


def _sheet_rows(entries: Sequence[Entry], why: str = "why") -> list[list[tuple[str, str]]]:
    rows = []
    for e in entries:
        text = e.why
        if why == "chase":
            extra = [f"overdue {e.overdue_days} days"] if e.overdue_days is not None else []
            extra += ["not in the export"] if e.in_export is False else []
            text = "; ".join([e.why, *extra])
        elif why == "complete":
            text = "yes" if e.complete else "no"
        rows.append(
            [("", _e(e.delivery_number)), ("", _e(e.customer)), ("", _e(e.date)), ("", _e(text)),
             ("", _e(e.filed)), ("path", _e(e.path))]
        )
    return rows


def _day_chart(days: Sequence[DayTotals]) -> str:
    width, height, left, bottom, top = 640, 190, 34, 34, 10
    peak = max([d.complete + d.incomplete + d.other for d in days] + [1])
    n = max(len(days), 1)
    slot = (width - left - 10) / n
    bar = max(1.0, min(36.0, slot * 0.75))
    scale = (height - bottom - top) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="complete and incomplete sheets per filing day" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" id="chart-days">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 5}" y2="{height - bottom}" stroke="#999"/>',
        f'<text x="{left - 6}" y="{top + 10}" font-size="11" text-anchor="end">{peak}</text>',
        f'<text x="{left - 6}" y="{height - bottom}" font-size="11" text-anchor="end">0</text>',
    ]
    every = max(1, round(n / 10))
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        y = height - bottom
        for name in ("complete", "incomplete", "other"):
            value = getattr(d, name)
            if not value:
                continue
            h = value * scale
            y -= h
            parts.append(
                f'<rect class="bar-{name}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="{COLOURS[name]}">'
                f"<title>{d.day}: {value} {name}</title></rect>"
            )
        if i % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle">{d.day:%m-%d}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _customer_chart(customers: Sequence[CustomerTotals]) -> str:
    shown = list(customers[:MAX_CUSTOMER_BARS])
    label, width, row = 210, 640, 20
    height = max(1, len(shown)) * row + 10
    peak = max([c.filed for c in shown] + [1])
    scale = (width - label - 50) / peak
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="complete and incomplete sheets per customer" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" id="chart-customers">'
    ]
    for i, c in enumerate(shown):
        y = 5 + i * row
        name = c.customer or "(no customer read)"
        short = name if len(name) <= 28 else name[:27] + "…"
        parts.append(f'<text x="{label - 6}" y="{y + 13}" font-size="11" text-anchor="end">{escape(short)}<title>{escape(name)}</title></text>')
        x = float(label)
        for kind in ("complete", "incomplete"):
            value = getattr(c, kind)
            if value:
                w = value * scale
                parts.append(
                    f'<rect class="bar-{kind}" x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{COLOURS[kind]}">'
                    f"<title>{escape(name)}: {value} {kind}</title></rect>"
                )
                x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 13}" font-size="11">{c.incomplete}/{c.filed}</text>')
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: Report) -> str:
    """One self-contained page (inline CSS, SVG and script; a CSP that forbids every fetch)."""
    rec = report.reconciliation
    state = "chase" if report.to_chase else "ok"
    tiles = "".join(
        f'<div class="tile" data-total="{escape(label)}"><b>{n}</b><span>{escape(label)}</span></div>'
        for label, n in totals_items(report)
    )
    if rec is not None:
        tiles += f'<div class="tile" data-total="overdue"><b>{len(rec.overdue)}</b><span>overdue</span></div>'
    legend = "".join(f'<span><i style="background:{c}"></i>{n}</span>' for n, c in COLOURS.items())
    body = [
        f"<header><h1>signoff report: sheets filed {escape(report.period.label())}</h1>",
        f'<p class="sub">archive {escape(report.archive)} · made {report.generated_at:%Y-%m-%d %H:%M %z} · '
        f'{"newest version of each delivery" if report.latest_only else "every version filed"}</p>',
        f'<p class="summary {state}" id="summary">{escape(summary_line(report))}</p></header>',
        f'<section class="tiles" aria-label="totals">{tiles}</section>',
        '<section class="charts" aria-label="charts">',
        f"<figure><figcaption>Per filing day</figcaption>{_day_chart(report.days)}<div class=\"legend\">{legend}</div></figure>",
        f"<figure><figcaption>Per customer (worst first)</figcaption>{_customer_chart(report.customers)}</figure>",
        "</section>",
        f'<section id="chase"><h2>Chase list: incomplete sheets ({len(report.chase)})</h2>',
        _table("chase-table", ("Delivery", "Customer", "Date", "Missing", "Filed", "Archive path"), _sheet_rows(report.chase, "chase")),
        "</section>",
    ]
    if rec is not None:
        rows = [
            [("", _e(o.delivery_number)), ("", _e(o.customer)), ("", _e(o.date)), ("n", str(o.days)), ("", _e(o.why)), ("path", _e(o.path))]
            for o in rec.overdue
        ]
        body += [
            f'<section id="overdue"><h2>Overdue: no valid sign-off more than {rec.grace_days} day(s) after delivery ({len(rec.overdue)})</h2>',
            _table("overdue-table", ("Delivery", "Customer", "Delivered", "Days", "Why", "Archive path"), rows, (3,)),
            "</section>",
        ]
    rows = [
        [("", _e(q.day)), ("path", _e(q.path)), ("", _e(q.code)), ("", _e(q.message))] for q in report.quarantine
    ]
    body += [
        f'<section id="quarantine"><h2>Quarantined files ({len(report.quarantine)})</h2>',
        _table("quarantine-table", ("Day", "File", "Reason", "Message"), rows),
        "</section>",
        f'<section id="review"><h2>Review list: complete but partly unreadable, or not a sign-off sheet ({len(report.review)})</h2>',
        _table("review-table", ("Delivery", "Customer", "Date", "Why", "Filed", "Archive path"), _sheet_rows(report.review)),
        "</section>",
    ]
    if rec is not None:
        body += [
            f'<section id="not-in-export"><h2>Not in the dispatch export {escape(rec.source)} ({len(rec.not_in_export)})</h2>',
            _table(
                "not-in-export-table",
                ("Delivery", "Customer", "Date", "Complete", "Filed", "Archive path"),
                _sheet_rows(rec.not_in_export, "complete"),
            ),
            f'<p class="sub">{rec.expected} deliveries in the export · {rec.returned} back complete · '
            f"{rec.pending} within the grace period · {rec.skipped_rows} row(s) skipped</p>",
            "</section>",
        ]
    rows = [
        [("", _e(c.customer or "(no customer read)")), ("n", str(c.filed)), ("n", str(c.complete)),
         ("n", str(c.incomplete)), ("n", str(c.unreadable)), ("n", str(c.rescans))]
        for c in report.customers
    ]
    body += [
        f'<section id="customers"><h2>Per customer, worst first ({len(report.customers)})</h2>',
        _table("customers-table", ("Customer", "Filed", "Complete", "Incomplete", "Unreadable", "Rescans"), rows, (1, 2, 3, 4, 5)),
        "</section>",
    ]
    body += [f'<p class="warn">Warning: {escape(w)}</p>' for w in report.warnings]
    title = escape(f"signoff report {report.period.label()}: {summary_line(report)}")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{_CSS}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_JS}</script>\n</body></html>\n"
    )
