"""The nightly report on hand-made archives: totals, lists, reconciliation, formats, exit codes, mail."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.filing import safe_name
from pipeline.report import Period, ReportError, build_report, load_expected, render
from pipeline.report.command import choose_period
from pipeline.report.render import action_rows
from tests.smtp_sink import smtp_sink

UTC = timezone.utc
DAY = date(2026, 11, 23)  # the period of the fixture archive
AS_OF = date(2026, 11, 24)
NOW = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
OK = {"customer": "ok", "items": "ok", "time": "ok", "signature": "ok", "receiver": "ok"}


def sidecar(
    archive: Path,
    dn: str | None,
    *,
    customer: str | None = "Nordic Timber AB",
    day: str | None = "2026-11-20",
    processed: str = "2026-11-23T12:00:00+00:00",
    version: int = 1,
    kind: str = "signoff",
    doc_id: str | None = None,
    **statuses: str,
) -> Path:
    """Write a sidecar (and a stand-in PDF) where filing would put it; its file times are its processed_at."""
    st = {**OK, **statuses}
    if customer is None:
        st["customer"] = statuses.get("customer", "missing")
    if day is None:
        st["time"] = statuses.get("time", "missing")
    ident = doc_id or safe_name(dn or "X")
    folder = "_other" if kind != "signoff" else safe_name(customer) if customer else "_unknown"
    month = (day or processed[:10])[:7].split("-")
    stem = ident if version == 1 else f"{ident}.v{version}"
    pdf = archive / folder / month[0] / month[1] / f"{stem}.pdf"
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.write_bytes(b"%PDF-1.4 stand-in\n")
    required = ("customer", "items", "time", "signature")
    complete = kind == "signoff" and bool(dn) and all(st[f] != "missing" for f in required)
    data = {
        "schema": 1,
        "doc_id": stem,
        "kind": kind,
        "delivery_number": dn,
        "customer": customer,
        "date": day,
        "fields": {name: {"status": s, "value": None} for name, s in st.items()},
        "complete": complete,
        "notes": [],
        "text": "Delivery note " * 50,
        "file": {"name": pdf.name, "path": pdf.relative_to(archive).as_posix()},
        "version": version,
        "processed_at": processed,
    }
    side = pdf.with_suffix(".json")
    side.write_text(json.dumps(data, indent=2), encoding="utf-8")
    stamp = datetime.fromisoformat(processed).timestamp() + 5  # written a moment after processed_at
    os.utime(side, (stamp, stamp))
    return side


def reason(archive: Path, day: str, name: str, code: str = "bad_input.zero_bytes") -> None:
    folder = archive / "_quarantine" / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"")
    rec = {"code": code, "message": "the file is empty: scan it again", "stage": "ingest", "sha256": None,
           "at": f"{day}T09:00:00+00:00", "source": name}
    (folder / f"{name}.reason.json").write_text(json.dumps(rec))


def duplicate(archive: Path, day: str, name: str, of: str) -> None:
    folder = archive / "_duplicates" / day
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"%PDF-1.4\n")
    rec = {"sha256": "a" * 64, "of": of, "source": name, "at": f"{day}T10:00:00+00:00"}
    (folder / f"{name}.duplicate.json").write_text(json.dumps(rec))


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """GIVEN an archive with every kind of sheet filed on 2026-11-23, and some filed before and after."""
    a = tmp_path / "archive"
    a.mkdir(exist_ok=True)
    sidecar(a, "DN-1")  # complete
    sidecar(a, "DN-2", signature="missing")  # unsigned
    sidecar(a, "DN-3", customer="Brightwater Supplies Ltd", day=None)  # no time
    sidecar(a, "DN-4", customer="Brightwater Supplies Ltd", signature="unreadable")  # review
    sidecar(a, "DN-5", customer="Redwood Construction Inc.", processed="2026-11-10T12:00:00+00:00", signature="missing")
    sidecar(a, "DN-5", customer="Redwood Construction Inc.", version=2)  # a rescan, signed this time
    sidecar(a, "DN-6", signature="missing")  # unsigned, but rescanned signed the day after
    sidecar(a, "DN-6", version=2, processed="2026-11-24T03:00:00+00:00")
    sidecar(a, None, customer=None, doc_id="X-0123456789ab", items="missing")  # no DN, no customer, no items
    sidecar(a, None, customer=None, kind="other", doc_id="X-ba9876543210")  # an invoice
    sidecar(a, "DN-7", processed="2026-11-22T12:00:00+00:00", signature="missing")  # filed the day before
    reason(a, "2026-11-23", "empty.pdf")
    reason(a, "2026-11-22", "older.pdf")
    duplicate(a, "2026-11-23", "again.pdf", of="Nordic-Timber-AB/2026/11/DN-1.pdf")
    duplicate(a, "2026-11-23", "again-2.pdf", of="Nordic-Timber-AB/2026/11/DN-1.pdf")
    duplicate(a, "2026-11-21", "older.pdf", of="Nordic-Timber-AB/2026/11/DN-1.pdf")
    (a / "_index").mkdir()
    return a


def report_of(archive: Path, **kw):  # noqa: ANN201
    kw.setdefault("as_of", AS_OF)
    return build_report(archive, Period.day(DAY), tz=UTC, now=NOW, **kw)


def dns(entries) -> list[str | None]:  # noqa: ANN001
    return [e.delivery_number for e in entries]


# -- build_report --------------------------------------------------------------------------------
def test_totals_count_each_delivery_once_by_its_newest_version(archive: Path) -> None:
    r = report_of(archive)
    t = r.totals
    assert (t.filed, t.complete, t.incomplete, t.other) == (8, 4, 3, 1)
    assert (t.unreadable, t.rescans, t.duplicates, t.quarantined) == (1, 1, 2, 1)
    assert t.filed == t.complete + t.incomplete + t.other


def test_chase_list_says_what_is_missing(archive: Path) -> None:
    r = report_of(archive)
    assert [(e.delivery_number, e.why) for e in r.chase] == [
        ("DN-2", "unsigned"),
        ("DN-3", "no time"),
        (None, "no delivery number, no customer, no items"),
    ]
    dn3 = r.chase[1]
    assert dn3.customer == "Brightwater Supplies Ltd" and dn3.date is None and dn3.filed == DAY
    assert dn3.path == "Brightwater-Supplies-Ltd/2026/11/DN-3.pdf"
    assert "DN-6" not in dns(r.chase)  # its newest version is signed
    assert "DN-7" not in dns(r.chase)  # filed on another day
    assert r.exit_code == 1 and r.to_chase == 4  # three sheets and a quarantined file


def test_review_list_and_quarantine_and_duplicates(archive: Path) -> None:
    r = report_of(archive)
    assert [(e.kind, e.why) for e in r.review] == [("other", "not a sign-off sheet"), ("signoff", "unreadable: signature")]
    assert [(q.path, q.code, q.source) for q in r.quarantine] == [("_quarantine/2026-11-23/empty.pdf", "bad_input.zero_bytes", "empty.pdf")]
    assert [(d.path, d.source, d.of) for d in r.duplicates] == [
        ("_duplicates/2026-11-23/again-2.pdf", "again-2.pdf", "Nordic-Timber-AB/2026/11/DN-1.pdf"),
        ("_duplicates/2026-11-23/again.pdf", "again.pdf", "Nordic-Timber-AB/2026/11/DN-1.pdf"),
    ]


def test_per_customer_worst_first_and_consistent(archive: Path) -> None:
    r = report_of(archive)
    rows = [(c.customer, c.filed, c.complete, c.incomplete, c.unreadable, c.rescans) for c in r.customers]
    assert rows == [
        (None, 1, 0, 1, 0, 0),  # one incomplete of one
        ("Brightwater Supplies Ltd", 2, 1, 1, 1, 0),  # one of two: worse than Nordic's one of three
        ("Nordic Timber AB", 3, 2, 1, 0, 0),
        ("Redwood Construction Inc.", 1, 1, 0, 0, 1),
    ]
    assert sum(c.filed for c in r.customers) == r.totals.filed - r.totals.other
    assert sum(c.incomplete for c in r.customers) == r.totals.incomplete


def test_per_customer_order_is_by_incomplete_then_share(archive: Path) -> None:
    order = [c.customer for c in report_of(archive).customers]
    # Two customers with one incomplete sheet each: the one with fewer sheets (a larger share) first.
    assert order.index("Brightwater Supplies Ltd") < order.index("Nordic Timber AB")
    assert order[-1] == "Redwood Construction Inc."


def test_all_versions_counts_every_file(archive: Path) -> None:
    r = report_of(archive, latest_only=False)
    assert r.totals.filed == 8  # DN-6's v2 was filed the day after
    assert "DN-6" in dns(r.chase)  # its unsigned file, as filed that day


def test_a_period_of_days_charts_each_day(archive: Path) -> None:
    r = build_report(archive, Period(date(2026, 11, 22), date(2026, 11, 24)), tz=UTC, now=NOW, as_of=AS_OF)
    assert [d.day for d in r.days] == [date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24)]
    assert r.days[0].incomplete == 1  # DN-7
    assert sum(d.complete + d.incomplete + d.other for d in r.days) == r.totals.filed
    assert r.days[2].complete == 1  # DN-6 counts on its last filing, the 24th
    assert len(r.quarantine) == 2


def test_time_zone_decides_the_day(tmp_path: Path) -> None:
    """A sheet filed at 23:30 UTC is the next day's in Stockholm."""
    sidecar(tmp_path, "DN-9", processed="2026-11-22T23:30:00+00:00")
    from zoneinfo import ZoneInfo

    stockholm = build_report(tmp_path, Period.day(DAY), tz=ZoneInfo("Europe/Stockholm"), now=NOW)
    utc = build_report(tmp_path, Period.day(DAY), tz=UTC, now=NOW)
    assert stockholm.totals.filed == 1 and utc.totals.filed == 0


def test_sidecars_not_touched_since_the_period_began_are_not_read(archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pipeline.report import build as build_mod

    sidecar(archive, "DN-11", processed="2026-11-20T12:00:00+00:00", signature="missing")
    read: list[str] = []
    real = build_mod.read_sheet
    monkeypatch.setattr(build_mod, "read_sheet", lambda f, tz: read.append(f.rel_pdf) or real(f, tz))
    report_of(archive)
    assert "Nordic-Timber-AB/2026/11/DN-11.pdf" not in read  # filed on the 20th, untouched since
    assert "Nordic-Timber-AB/2026/11/DN-7.pdf" in read  # the 22nd: within the day of slack
    assert "Redwood-Construction-Inc/2026/11/DN-5.pdf" in read  # an older version of a sheet in the period
    assert len(read) == len(set(read))  # each sidecar read once
    read.clear()
    report_of(archive, full_scan=True)
    assert "Nordic-Timber-AB/2026/11/DN-11.pdf" in read


def test_folders_not_touched_since_the_period_began_are_not_looked_into(archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Filing renames a file into its folder, which sets the folder's time: an old folder holds nothing new."""
    from pipeline.report import build as build_mod

    old = sidecar(archive, "DN-12", customer="Harbour View Hotels Ltd", day="2026-10-02", processed="2026-10-03T12:00:00+00:00")
    stamp = datetime(2026, 10, 3, 12, 1, tzinfo=UTC).timestamp()
    os.utime(old.parent, (stamp, stamp))
    read: list[str] = []
    real = build_mod.read_sheet
    monkeypatch.setattr(build_mod, "read_sheet", lambda f, tz: read.append(f.rel_pdf) or real(f, tz))
    assert report_of(archive).totals.filed == 8
    assert "Harbour-View-Hotels-Ltd/2026/10/DN-12.pdf" not in read
    assert report_of(archive, full_scan=True).totals.filed == 8
    assert "Harbour-View-Hotels-Ltd/2026/10/DN-12.pdf" in read


def test_full_scan_finds_a_sidecar_whose_time_was_set_back(archive: Path) -> None:
    side = sidecar(archive, "DN-8")
    os.utime(side, (1_000_000_000, 1_000_000_000))
    assert "DN-8" not in dns(report_of(archive).chase + report_of(archive).review)
    assert report_of(archive).totals.filed == 8
    assert report_of(archive, full_scan=True).totals.filed == 9


def test_an_unreadable_sidecar_is_a_warning_not_a_crash(archive: Path) -> None:
    bad = archive / "Nordic-Timber-AB" / "2026" / "11" / "DN-99.json"
    bad.write_text("{not json")
    r = report_of(archive)
    assert r.totals.filed == 8
    assert len(r.warnings) == 1 and "DN-99.json" in r.warnings[0]
    assert "WARNING" in render(r, "text")


def test_missing_folders_and_an_empty_archive(tmp_path: Path) -> None:
    r = build_report(tmp_path, Period.day(DAY), tz=UTC, now=NOW)
    assert r.totals.filed == 0 and r.exit_code == 0 and not r.quarantine and not r.duplicates
    with pytest.raises(ReportError):
        build_report(tmp_path / "nope", Period.day(DAY))


def test_period_choice() -> None:
    today = date(2026, 11, 24)
    assert choose_period(None, None, None, today) == Period.day(date(2026, 11, 23))
    assert choose_period(date(2026, 1, 2), None, None, today) == Period.day(date(2026, 1, 2))
    assert choose_period(None, date(2026, 11, 1), None, today) == Period(date(2026, 11, 1), date(2026, 11, 23))
    assert choose_period(None, None, date(2026, 11, 5), today) == Period.day(date(2026, 11, 5))
    with pytest.raises(ReportError):
        choose_period(date(2026, 1, 2), date(2026, 1, 1), None, today)
    with pytest.raises(ReportError):
        Period(date(2026, 2, 1), date(2026, 1, 1))


# -- reconciliation ------------------------------------------------------------------------------
EXPORT = """\
delivery_number,customer,delivery_date,driver
DN-1,Nordic Timber AB,2026-11-19,Ann
DN-2,Nordic Timber AB,2026-11-18,Ann
DN-8,Harbour View Hotels Ltd,2026-11-16,Bo
DN-8,Harbour View Hotels Ltd,2026-11-15,Bo
DN-9,Harbour View Hotels Ltd,2026-11-22,Bo
dn-7,Nordic Timber AB,19/11/2026,Ann
DN-10,Nordic Timber AB,soon,Ann
,Nordic Timber AB,2026-11-01,Ann
DN-5,Redwood Construction Inc.,2026-11-09,Cy
"""


def write_export(tmp_path: Path, text: str = EXPORT, name: str = "dispatch.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_reconciliation_lists_overdue_deliveries_oldest_first(archive: Path, tmp_path: Path) -> None:
    export = load_expected(write_export(tmp_path))
    r = report_of(archive, expected=export, grace_days=3)
    rec = r.reconciliation
    assert rec is not None
    assert (rec.expected, rec.returned, rec.pending, rec.skipped_rows) == (7, 2, 1, 2)
    assert [(o.delivery_number, o.days, o.why) for o in rec.overdue] == [
        ("DN-8", 9, "no sheet back"),  # the earliest of its two rows
        ("dn-7", 5, "only an incomplete sheet: unsigned"),  # case does not matter; filed on another day
    ]
    assert rec.overdue[1].path == "Nordic-Timber-AB/2026/11/DN-7.pdf"
    # DN-2 is on the chase list already: marked overdue there, not listed twice.
    dn2 = next(e for e in r.chase if e.delivery_number == "DN-2")
    assert dn2.overdue_days == 6 and r.chase[0] is dn2
    assert dns(rec.not_in_export) == ["DN-3", "DN-4", "DN-6"]
    assert r.to_chase == 3 + 2 + 1


def test_grace_period_setting_moves_deliveries_in_and_out(archive: Path, tmp_path: Path) -> None:
    export = load_expected(write_export(tmp_path))
    # DN-8 went out 9 days ago: overdue after more than 9 days' grace, not after exactly 9.
    assert "DN-8" not in [o.delivery_number for o in report_of(archive, expected=export, grace_days=9).overdue]
    assert "DN-8" in [o.delivery_number for o in report_of(archive, expected=export, grace_days=8).overdue]
    assert report_of(archive, expected=export, grace_days=9).reconciliation.pending == 4  # DN-9, DN-8, dn-7, DN-2
    assert len(report_of(archive, expected=export, grace_days=10).overdue) == 0
    assert [o.delivery_number for o in report_of(archive, expected=export, grace_days=1).overdue] == ["DN-8", "dn-7", "DN-9"]


def test_export_column_names_delimiter_and_encoding(tmp_path: Path) -> None:
    text = "Följesedel;Kund;Leveransdatum\nDN-1;Åkerlunds Bygg & Järn AB;14.11.2026\n"
    path = write_export(tmp_path, text, encoding="cp1252")
    export = load_expected(path, delivery_column="följesedel", customer_column="Kund", date_column="Leveransdatum")
    (d,) = export.deliveries
    assert (d.delivery_number, d.customer, d.date) == ("DN-1", "Åkerlunds Bygg & Järn AB", date(2026, 11, 14))
    mdy = load_expected(write_export(tmp_path, "delivery_number,delivery_date\nDN-1,11/03/2026\n"), date_order="MDY")
    assert mdy.deliveries[0].date == date(2026, 11, 3) and mdy.deliveries[0].customer is None


def test_export_without_the_configured_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="expected_date_column"):
        load_expected(write_export(tmp_path, "delivery_number,customer,date\nDN-1,A,2026-11-01\n"))
    with pytest.raises(ReportError, match="empty"):
        load_expected(write_export(tmp_path, ""))


# -- formats -------------------------------------------------------------------------------------
@pytest.fixture
def full_report(archive: Path, tmp_path: Path):  # noqa: ANN201
    return report_of(archive, expected=load_expected(write_export(tmp_path)))


def test_text_puts_the_chase_list_first(full_report) -> None:  # noqa: ANN001
    text = render(full_report, "text")
    lines = text.splitlines()
    assert lines[3] == "6 TO CHASE: 3 incomplete sheet(s), 2 overdue delivery(ies), 1 quarantined file(s)."
    assert lines[5] == "CHASE LIST: incomplete sheets (3)"
    sections = [line for line in lines if line and not line.startswith(" ")][3:]
    assert sections[:5] == [
        "CHASE LIST: incomplete sheets (3)",
        "OVERDUE: no valid sign-off more than 3 day(s) after delivery, oldest first (2)",
        "QUARANTINED FILES (1)",
        "REVIEW LIST: complete but partly unreadable, or not a sign-off sheet (2)",
        "NOT IN THE DISPATCH EXPORT: sheets filed whose delivery number dispatch.csv lacks (3)",
    ]
    assert re.search(r"DN-2 +Nordic Timber AB +2026-11-20 +unsigned; overdue 6 days +2026-11-23 +Nordic-Timber-AB/2026/11/DN-2.pdf", text)


def test_every_format_tells_the_same_numbers(full_report) -> None:  # noqa: ANN001
    r = full_report
    t = r.totals
    want = {"filed": t.filed, "complete": t.complete, "incomplete": t.incomplete, "other": t.other,
            "with unreadable fields": t.unreadable, "rescans": t.rescans, "duplicates": t.duplicates,
            "quarantined": t.quarantined}

    # json: the whole report
    data = json.loads(render(r, "json"))
    assert data["totals"] == {"filed": 8, "complete": 4, "incomplete": 3, "other": 1, "unreadable": 1,
                              "rescans": 1, "duplicates": 2, "quarantined": 1}
    assert [e["delivery_number"] for e in data["chase"]] == dns(r.chase)
    assert len(data["reconciliation"]["overdue"]) == 2 and data["to_chase"] == 6

    # text: the totals line
    text = render(r, "text")
    line = next(l for l in text.splitlines() if l.startswith("  filed "))
    assert {k: int(v) for k, v in (part.rsplit(" ", 1) for part in line.strip().split(" · "))} == want

    # md: the totals table
    md = render(r, "md").splitlines()
    i = md.index("## Totals")
    head = [c.strip() for c in md[i + 2].strip("|").split("|")]
    vals = [int(c) for c in md[i + 4].strip("|").split("|")]
    assert dict(zip(head, vals)) == want
    assert sum(1 for l in md[md.index("## Chase list: incomplete sheets (3)"):] if l.startswith("| DN-") or l.startswith("| —")) >= 3

    # html: the tiles and the tables' rows
    html = render(r, "html")
    tiles = {m[1]: int(m[2]) for m in re.finditer(r'data-total="([^"]+)"><b>(\d+)</b>', html)}
    assert tiles == {**want, "overdue": 2}
    for table, n in (("chase-table", 3), ("overdue-table", 2), ("quarantine-table", 1), ("review-table", 2),
                     ("not-in-export-table", 3), ("customers-table", len(r.customers))):
        body = html.split(f'id="{table}"')[1].split("</tbody>")[0]
        assert body.count("<tr>") - 1 == n, table  # minus the header row

    # csv: one row per sheet, delivery or file needing action
    rows = list(csv.DictReader(io.StringIO(render(r, "csv"))))
    assert len(rows) == len(action_rows(r))
    by_list = {}
    for row in rows:
        by_list.setdefault(row["list"], []).append(row)
    assert len(by_list["chase"]) == 3 and len(by_list["overdue"]) == 2 and len(by_list["quarantine"]) == 1
    assert len(by_list["review"]) == 2
    # DN-3 (chase) and DN-4 (review) are not in the export: one row each, both reasons; DN-6 has its own row.
    assert [row["delivery_number"] for row in by_list["not_in_export"]] == ["DN-6"]
    dn3 = next(row for row in rows if row["delivery_number"] == "DN-3")
    assert dn3["why"] == "no time; not in the dispatch export" and dn3["date"] == ""
    dn8 = next(row for row in rows if row["delivery_number"] == "DN-8")
    assert (dn8["why"], dn8["days_overdue"], dn8["date"]) == ("no sheet back", "9", "2026-11-15")
    assert len(rows) == len(r.chase) + len(r.overdue) + len(r.quarantine) + len(r.review) + 1


def test_html_is_self_contained(full_report) -> None:  # noqa: ANN001
    html = render(full_report, "html")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|[a-z0-9_./-]+\.(css|js|png|woff))""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert html.count("<svg") == 2 and 'class="bar-incomplete"' in html


def test_text_output_exactly(tmp_path: Path) -> None:
    """The text layout, all of it, for a small archive."""
    sidecar(tmp_path, "DN-2026-000101", signature="missing")
    sidecar(tmp_path, "DN-2026-000102", customer="上海恒达物流有限公司", day=None)
    sidecar(tmp_path, "DN-2026-000103")
    r = build_report(tmp_path, Period.day(DAY), tz=UTC, now=NOW)
    assert render(r, "text") == f"""\
signoff report: sheets filed 2026-11-23
archive {tmp_path} · made 2026-11-24 06:00 +0000 · newest version of each delivery

2 TO CHASE: 2 incomplete sheet(s), 0 quarantined file(s).

CHASE LIST: incomplete sheets (2)
  Delivery        Customer              Date        Missing   Filed       Archive path
  DN-2026-000101  Nordic Timber AB      2026-11-20  unsigned  2026-11-23  Nordic-Timber-AB/2026/11/DN-2026-000101.pdf
  DN-2026-000102  上海恒达物流有限公司  —           no time   2026-11-23  上海恒达物流有限公司/2026/11/DN-2026-000102.pdf

QUARANTINED FILES (0)
  none

REVIEW LIST: complete but partly unreadable, or not a sign-off sheet (0)
  none

TOTALS
  filed 3 · complete 1 · incomplete 2 · other 0 · with unreadable fields 0 · rescans 0 · duplicates 0 · quarantined 0

PER CUSTOMER (worst first)
  Customer              Filed  Complete  Incomplete  Unreadable  Rescans
  上海恒达物流有限公司  1      0         1           0           0
  Nordic Timber AB      2      1         1           0           0
"""


# -- the command ---------------------------------------------------------------------------------
def run(*args: str, env: dict[str, str] | None = None):  # noqa: ANN201
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def office(dirs, archive: Path):  # noqa: ANN001, ANN201
    """The fixture archive as the office's `archive/` (the working directory is dirs.root)."""
    assert archive == dirs.archive
    return dirs


def test_cli_exit_1_when_something_to_chase(office) -> None:  # noqa: ANN001
    res = run("report", "--date", "2026-11-23")
    assert res.exit_code == 1, res.output
    assert "CHASE LIST: incomplete sheets (3)" in res.output and "DN-2 " in res.output


def test_cli_exit_0_when_nothing_to_chase(office) -> None:  # noqa: ANN001
    res = run("report", "--date", "2026-11-01")
    assert res.exit_code == 0, res.output
    assert "Nothing to chase." in res.output


def test_cli_formats_and_out(office, tmp_path: Path) -> None:  # noqa: ANN001
    for fmt in ("text", "md", "csv", "json", "html"):
        out = tmp_path / f"report.{fmt}"
        res = run("report", "--date", "2026-11-23", "--format", fmt, "--out", str(out))
        assert res.exit_code == 1 and res.output == "", (fmt, res.output)
        assert "DN-2" in out.read_text(encoding="utf-8")
    res = run("report", "--date", "2026-11-23", "--json")
    assert json.loads(res.output)["totals"]["filed"] == 8


def test_cli_reconciliation_uses_the_settings(office, tmp_path: Path) -> None:  # noqa: ANN001
    today = datetime.now().astimezone().date()
    text = f"Följesedel;Kund;Datum\nDN-404;Nordic Timber AB;{date.fromordinal(today.toordinal() - 30)}\n"
    export = write_export(tmp_path, text)
    (office.root / "signoff.toml").write_text(
        'expected_delivery_column = "Följesedel"\nexpected_customer_column = "Kund"\n'
        'expected_date_column = "Datum"\nreport_grace_days = 40\n', encoding="utf-8"
    )
    res = run("report", "--date", "2026-11-01", "--expected", str(export), "--json")
    assert res.exit_code == 0, res.output  # within 40 days' grace
    assert json.loads(res.output)["reconciliation"]["pending"] == 1
    res = run("report", "--date", "2026-11-01", "--expected", str(export), "--json", env={"SIGNOFF_REPORT_GRACE_DAYS": "7"})
    assert res.exit_code == 1
    assert json.loads(res.output)["reconciliation"]["overdue"][0]["delivery_number"] == "DN-404"


@pytest.mark.parametrize(
    "args",
    [
        ("report", "--date", "2026-13-01"),
        ("report", "--date", "2026-11-23", "--since", "2026-11-01"),
        ("report", "--since", "2026-11-23", "--until", "2026-11-01"),
        ("report", "--format", "pdf"),
        ("report", "--expected", "no-such.csv"),
        ("--archive", "nowhere", "report"),
    ],
)
def test_cli_exit_2_on_errors(office, args: tuple[str, ...]) -> None:  # noqa: ANN001
    res = run(*args)
    assert res.exit_code == 2, res.output


def test_cli_exit_2_on_a_bad_export_and_on_a_bug(office, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    export = write_export(tmp_path, "number,date\nDN-1,2026-11-01\n")
    res = CliRunner().invoke(cli, ["report", "--date", "2026-11-23", "--expected", str(export)])
    assert res.exit_code == 2 and "expected_delivery_column" in res.output

    import pipeline.report.command as command

    def broken(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("a bug")

    monkeypatch.setattr(command, "build_report", broken)
    res = CliRunner().invoke(cli, ["report", "--date", "2026-11-23"])
    assert res.exit_code == 2 and "a bug" in res.output


def test_cli_exit_2_on_bad_settings(office) -> None:  # noqa: ANN001
    assert run("report", env={"SIGNOFF_REPORT_GRACE_DAYS": "three"}).exit_code == 2
    assert run("report", env={"SIGNOFF_SMTP_PORT": "0"}).exit_code == 2
    assert run("report", env={"SIGNOFF_SMTP_STARTTLS": "perhaps"}).exit_code == 2


def test_mail_needs_a_server(office) -> None:  # noqa: ANN001
    res = CliRunner().invoke(cli, ["report", "--date", "2026-11-23", "--mail-to", "office@example.com"])
    assert res.exit_code == 2 and "smtp_host" in res.output


def test_mail_is_sent_as_html_with_a_text_part(office) -> None:  # noqa: ANN001
    with smtp_sink() as sink:
        env = {"SIGNOFF_SMTP_HOST": sink.host, "SIGNOFF_SMTP_PORT": str(sink.port),
               "SIGNOFF_SMTP_FROM": "signoff@depot.example", "SIGNOFF_SMTP_USER": "robot",
               "SIGNOFF_SMTP_PASSWORD": "secret"}
        res = run("report", "--date", "2026-11-23", "--mail-to", "office@example.com", "--mail-to", "boss@example.com",
                  "--out", os.devnull, env=env)
    assert res.exit_code == 1, res.output
    (got,) = sink.messages
    assert got.sender == "signoff@depot.example" and got.recipients == ["office@example.com", "boss@example.com"]
    assert got.login == "robot"
    msg = got.message
    assert msg["Subject"] == "signoff report 2026-11-23: 4 TO CHASE: 3 incomplete sheet(s), 1 quarantined file(s)."
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert text.startswith("signoff report: sheets filed 2026-11-23") and "DN-2 " in text
    assert html.startswith("<!DOCTYPE html>") and 'id="chase-table"' in html


def test_mail_server_down_is_exit_2(office) -> None:  # noqa: ANN001
    with smtp_sink() as sink:
        port = sink.port
    res = CliRunner().invoke(
        cli, ["report", "--date", "2026-11-23", "--mail-to", "a@example.com", "--out", os.devnull],
        env={"SIGNOFF_SMTP_HOST": "127.0.0.1", "SIGNOFF_SMTP_PORT": str(port)},
    )
    assert res.exit_code == 2 and "could not send" in res.output


def test_settings_keys_for_the_report(tmp_path: Path) -> None:
    from pipeline.settings import load_settings

    s = load_settings(env={}, cwd=tmp_path)
    assert (s.report_grace_days, s.expected_delivery_column, s.smtp_host, s.smtp_port, s.smtp_starttls) == (
        3, "delivery_number", None, 25, False)
    (tmp_path / "signoff.toml").write_text('smtp_host = "mail.example"\nsmtp_port = 587\nsmtp_starttls = true\n')
    s = load_settings(env={"SIGNOFF_SMTP_PASSWORD": " pass word "}, cwd=tmp_path)
    assert (s.smtp_host, s.smtp_port, s.smtp_starttls, s.smtp_password) == ("mail.example", 587, True, " pass word ")
