"""The nightly report end to end: generated sheets with known gaps, filed by `signoff process`, reported by `signoff report`.

Real tesseract and the real command line; the html is opened in a real headless chromium and the
mail is sent to an SMTP server this test runs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from pipeline.samples import SheetTruth, degrade, random_sheet, render_sheet, write_customers_csv
from tests.conftest import needs_tesseract
from tests.smtp_sink import smtp_sink
from tests.e2e.test_first_light import signoff

pytestmark = [pytest.mark.slow, needs_tesseract]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (scripts/setup.sh installs it)")
NOWHERE = "DN-2026-990001"  # in the dispatch export, never signed back
RECENT = "DN-2026-990002"  # in the export, delivered yesterday: still within the grace period


@dataclass(frozen=True)
class Office:
    root: Path
    today: date
    unsigned: SheetTruth
    undated: SheetTruth
    rescanned: SheetTruth  # filed unsigned, then scanned again signed: nothing to chase
    export: Path

    def report(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return signoff("report", "--date", str(self.today), "--expected", str(self.export), *args, cwd=self.root, env=env)


def _scan(sheet: SheetTruth, path: Path, seed: int) -> None:
    (page,) = render_sheet(sheet, dpi=300, rng=random.Random(seed))
    degrade(page, random.Random(seed + 1)).save(path, "PNG", dpi=(300, 300))


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Office:
    """GIVEN an inbox with an unsigned sheet, an undated one, one unsigned that is later rescanned
    signed, and an empty file; all filed with `signoff process` today; and a dispatch export that
    also lists a delivery that never came back and one delivered yesterday."""
    root = tmp_path_factory.mktemp("report-office")
    inbox = root / "inbox"
    inbox.mkdir()
    write_customers_csv(root / "customers.csv")
    (root / "signoff.toml").write_text('customers = "customers.csv"\nlanguages = ["eng"]\n', encoding="utf-8")
    rng = random.Random(2026)
    common = {"language": "en", "barcode": "code128", "layout": "left"}
    unsigned = random_sheet(rng, signed=False, time_style="printed", **common)
    undated = random_sheet(rng, signed=True, time_style="empty", **common)
    first = random_sheet(rng, signed=False, time_style="stamped", **common)
    assert len({unsigned.delivery_number, undated.delivery_number, first.delivery_number}) == 3
    _scan(unsigned, inbox / "scan-0001.png", 1)
    _scan(undated, inbox / "scan-0002.png", 2)
    _scan(first, inbox / "scan-0003.png", 3)
    (inbox / "scan-0004.pdf").write_bytes(b"")  # quarantined: zero bytes
    proc = signoff("process", *sorted(str(p) for p in inbox.iterdir()), cwd=root)
    assert proc.returncode == 1, proc.stderr  # 1: a file was quarantined
    rescanned = dataclasses.replace(first, signed=True)
    _scan(rescanned, inbox / "scan-0005.png", 4)
    proc = signoff("process", str(inbox / "scan-0005.png"), cwd=root)
    assert proc.returncode == 0, proc.stderr

    today = datetime.now().astimezone().date()
    export = root / "dispatch.csv"
    with export.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["delivery_number", "customer", "delivery_date", "route"])
        for sheet in (unsigned, undated, first):
            w.writerow([sheet.delivery_number, sheet.customer, today - timedelta(days=10), "R1"])
        w.writerow([NOWHERE, "Harbour View Hotels Ltd", today - timedelta(days=8), "R2"])
        w.writerow([RECENT, "Harbour View Hotels Ltd", today - timedelta(days=1), "R2"])
    return Office(root, today, unsigned, undated, rescanned, export)


def test_rescan_was_filed_as_a_second_version(office: Office) -> None:
    found = sorted(p.name for p in (office.root / "archive").rglob(f"{office.rescanned.delivery_number}*.pdf"))
    assert found == [f"{office.rescanned.delivery_number}.pdf", f"{office.rescanned.delivery_number}.v2.pdf"]


def test_json_reports_exactly_the_known_gaps(office: Office) -> None:
    """WHEN `signoff report --format json` runs for today
    THEN it lists the unsigned and the undated sheet to chase, the delivery that never came back as
    overdue, the empty file as quarantined, counts the rescan, and exits 1."""
    proc = office.report("--format", "json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    t = data["totals"]
    assert (t["filed"], t["complete"], t["incomplete"], t["rescans"], t["quarantined"]) == (3, 1, 2, 1, 1)
    chase = {e["delivery_number"]: e for e in data["chase"]}
    assert set(chase) == {office.unsigned.delivery_number, office.undated.delivery_number}
    assert "unsigned" in chase[office.unsigned.delivery_number]["missing"]
    assert chase[office.undated.delivery_number]["missing"] == ["no time"]
    assert chase[office.undated.delivery_number]["date"] is None
    assert all(e["overdue_days"] == 10 for e in chase.values())
    rec = data["reconciliation"]
    assert [(o["delivery_number"], o["days"], o["why"]) for o in rec["overdue"]] == [(NOWHERE, 8, "no sheet back")]
    assert (rec["expected"], rec["returned"], rec["pending"], rec["not_in_export"]) == (5, 1, 1, [])
    assert [q["source"] for q in data["quarantine"]] == ["scan-0004.pdf"]
    assert data["quarantine"][0]["code"] == "bad_input.zero_bytes"
    assert data["review"] == []
    assert data["to_chase"] == 4


def test_text_and_csv_and_md_agree(office: Office) -> None:
    unsigned, undated = office.unsigned.delivery_number, office.undated.delivery_number
    text = office.report()
    assert text.returncode == 1
    chase_part = text.stdout.split("CHASE LIST")[1].split("OVERDUE")[0]
    assert unsigned in chase_part and undated in chase_part
    assert office.rescanned.delivery_number not in text.stdout.split("TOTALS")[0]
    assert "filed 3 · complete 1 · incomplete 2" in text.stdout and "rescans 1" in text.stdout

    rows = list(csv.DictReader(io.StringIO(office.report("--format", "csv").stdout)))
    got = sorted((r["list"], r["delivery_number"] or Path(r["path"]).name) for r in rows)
    assert got == sorted([("chase", unsigned), ("chase", undated), ("overdue", NOWHERE), ("quarantine", "scan-0004.pdf")])

    md = office.report("--format", "md").stdout
    chase_md = md.split("## Chase list")[1].split("## ")[0]
    assert sorted(re.findall(r"^\| (DN-\S+) \|", chase_md, re.M)) == sorted([unsigned, undated])


def test_exit_0_for_a_day_with_nothing_to_chase(office: Office) -> None:
    proc = signoff("report", "--date", str(office.today - timedelta(days=1)), cwd=office.root)
    assert proc.returncode == 0, proc.stderr
    assert "Nothing to chase." in proc.stdout


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND",  # a request for anything anywhere would fail
            "--enable-logging=stderr", "--v=0", *args,
        ],
        capture_output=True, text=True, timeout=180,
    )


@needs_chromium
def test_html_in_a_real_browser(office: Office, tmp_path: Path) -> None:
    """GIVEN the html report written with --out
    WHEN chromium opens it (sorted by the address's #sort=)
    THEN its script runs without a console message, the chase table shows the two sheets in the
    order asked for, and a screenshot shows the red of incomplete sheets."""
    page = tmp_path / "report.html"
    proc = office.report("--format", "html", "--out", str(page))
    assert proc.returncode == 1, proc.stderr
    url = page.as_uri() + "#sort=chase-table:0:desc"
    dom = _chromium("--dump-dom", url, profile=tmp_path / "profile-1")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "CONSOLE" not in dom.stderr, dom.stderr  # no script error, no blocked request, no log line
    assert re.search(r'<html[^>]*data-ready="1"', dom.stdout)
    table = dom.stdout.split('id="chase-table"')[1].split("</table>")[0]
    shown = re.findall(r"<tr><td>(DN-[^<]+)</td>", table)
    assert shown == sorted([office.unsigned.delivery_number, office.undated.delivery_number], reverse=True)
    assert 'aria-sort="descending"' in table

    shot = tmp_path / "report.png"
    run = _chromium("--hide-scrollbars", "--window-size=1280,1600", f"--screenshot={shot}", page.as_uri(), profile=tmp_path / "profile-2")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    with Image.open(shot) as img:
        rgb = img.convert("RGB")
        assert rgb.size == (1280, 1600)
        colours = {c for _, c in rgb.getcolors(maxcolors=1 << 20) or []}
    assert (0xC6, 0x28, 0x28) in colours  # incomplete bars drawn
    print(f"screenshot: {shot}")


def test_report_is_mailed_as_html_with_a_text_part(office: Office) -> None:
    with smtp_sink() as sink:
        env = {"SIGNOFF_SMTP_HOST": sink.host, "SIGNOFF_SMTP_PORT": str(sink.port), "SIGNOFF_SMTP_FROM": "signoff@depot.example"}
        proc = office.report("--mail-to", "office@example.com", "--out", os.devnull, env=env)
    assert proc.returncode == 1, proc.stderr
    (got,) = sink.messages
    assert got.recipients == ["office@example.com"]
    msg = got.message
    assert "4 TO CHASE" in msg["Subject"]
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for dn in (office.unsigned.delivery_number, office.undated.delivery_number, NOWHERE):
        assert dn in text and dn in html
