"""Search, end to end: generated scans filed by the real pipeline, then found with every query form.

Real tesseract and whoosh, driven through the `signoff` command. What each query must return is
worked out from the generator's truth (customers, delivery numbers, dates, signatures, items),
never from the index itself.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from pipeline.samples import SampleFile, SheetTruth, write_customers_csv, write_demo_set
from tests.conftest import needs_tesseract

pytestmark = [pytest.mark.slow, needs_tesseract]

FIRST = 3  # files filed before the batch that searches run against


def signoff(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=dict(os.environ), capture_output=True, text=True, timeout=1800
    )


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sheets(files: list[SampleFile]) -> Iterator[SheetTruth]:
    for f in files:
        yield from f.sheets


class Office:
    """The filed office: where it is, the truth of what was scanned, what the searches during the batch saw."""

    def __init__(self, root: Path, files: list[SampleFile], rescanned: SheetTruth, during: list[subprocess.CompletedProcess[str]]):
        self.root = root
        self.files = files
        self.rescanned = rescanned
        self.during = during

    @property
    def truth(self) -> list[SheetTruth]:
        return list(sheets(self.files))

    def search(self, *args: str) -> set[str]:
        """Delivery numbers of every hit (asserting the command succeeded)."""
        proc = signoff("search", "--json", "--limit", "1000", *args, cwd=self.root)
        assert proc.returncode == 0, proc.stderr
        hits = jsonl(proc.stdout)
        numbers = [h["delivery_number"] for h in hits]
        assert len(numbers) == len(set(numbers)) or "version:all" in args, f"a sheet came back twice for {args}"
        return set(numbers)

    def where(self, pred) -> set[str]:  # noqa: ANN001 - a predicate on SheetTruth
        return {s.delivery_number for s in self.truth if pred(s)}


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Office:
    """GIVEN the demo scans: three filed with `signoff process`, the rest dropped into the inbox
    and filed by `signoff watch --once` while searches run, then a rescan of one sheet."""
    samples = tmp_path_factory.mktemp("samples")
    files = write_demo_set(samples, seed=7)
    root = tmp_path_factory.mktemp("office")
    (root / "inbox").mkdir()
    write_customers_csv(root / "customers.csv")
    (root / "signoff.toml").write_text('customers = "customers.csv"\n')

    first = [shutil.copy2(f.path, root / "inbox" / f.path.name) for f in files[:FIRST]]
    proc = signoff("process", *map(str, first), cwd=root)
    assert proc.returncode == 0, proc.stderr
    for f in files[FIRST:]:
        shutil.copy2(f.path, root / "inbox" / f.path.name)
    batch = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "watch", "--once"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    during = []
    while batch.poll() is None:
        during.append(signoff("search", "--json", "--limit", "1000", "version:all", cwd=root))
        time.sleep(1)
    assert batch.wait() == 0, batch.stderr.read() if batch.stderr else ""

    # A second scan of one sheet: the same paper, scanned again (other bytes, same content).
    source = next(f for f in files if f.path.suffix == ".jpg" and f.sheets[0].language == "en" and f.sheets[0].complete)
    with Image.open(source.path) as img:
        img.save(root / "inbox" / "rescan.jpg", "JPEG", quality=80, dpi=img.info.get("dpi", (300, 300)))
    proc = signoff("process", str(root / "inbox" / "rescan.jpg"), "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert [r["outcome"] for r in jsonl(proc.stdout)] == ["rescan"]
    return Office(root, files, source.sheets[0], during)


def test_searches_during_a_running_batch_succeed_and_only_grow(office: Office) -> None:
    """WHEN searches run while `watch --once` files and indexes a batch
    THEN every one succeeds and each sees at least what the one before saw."""
    assert len(office.during) >= 2
    seen: set[str] = set()
    for proc in office.during:
        assert proc.returncode == 0, proc.stderr
        now = {h["path"] for h in jsonl(proc.stdout)}
        assert seen <= now
        seen = now
    first_files = {s.delivery_number for f in office.files[:FIRST] for s in f.sheets}
    assert {h["delivery_number"] for h in jsonl(office.during[0].stdout)} >= first_files


def test_fields_from_the_truth(office: Office) -> None:
    """Each field form returns exactly the sheets the generator put there."""
    o = office
    any_sheet = o.truth[0]
    checks = {
        (f"delivery:{any_sheet.delivery_number}",): {any_sheet.delivery_number},
        (f"delivery:{any_sheet.delivery_number.lower()}",): {any_sheet.delivery_number},
        ("delivery:DN-2026-06*",): o.where(lambda s: s.delivery_number.startswith("DN-2026-06")),
        ("customer:brightwater",): o.where(lambda s: s.customer_id == "C-1005"),
        ("customer:C-1008",): o.where(lambda s: s.customer_id == "C-1008"),
        ("customer:恒达",): o.where(lambda s: s.customer_id == "C-1008"),
        ('customer:"bygg & järn"',): o.where(lambda s: s.customer_id == "C-1003"),
        ("status:incomplete",): o.where(lambda s: not s.complete),
        ("status:complete",): o.where(lambda s: s.complete),
        ("signed:no",): o.where(lambda s: not s.signed),
        ("signed:yes",): o.where(lambda s: s.signed),
        ("missing:time",): o.where(lambda s: s.time is None),
        ("date:2026-10",): o.where(lambda s: (s.time or "").startswith("2026-10")),
        ("date:[2026-09-20 to 2026-09-30]",): o.where(lambda s: "2026-09-20" <= (s.time or "")[:10] <= "2026-09-30"),
        ("customer:brightwater", "date:2026-09"): o.where(lambda s: s.customer_id == "C-1005" and (s.time or "").startswith("2026-09")),
        ("--from", "2026-10-10", "--to", "2026-10-14"): o.where(lambda s: "2026-10-10" <= (s.time or "")[:10] <= "2026-10-14"),
        ("sku:PL-1200",): o.where(lambda s: any(i.sku == "PL-1200" for i in s.items)),
        ("item:pallet",): o.where(lambda s: any("pallet" in i.description.lower().split() for i in s.items)),
    }
    wrong = {args: (o.search(*args), want) for args, want in checks.items() if o.search(*args) != want}
    assert not wrong, wrong
    assert all(want for want in checks.values())  # no check is vacuous


def test_words_accents_chinese_and_case(office: Office) -> None:
    o = office
    assert o.search("goteborgs") == o.search("GÖTEBORGS") == o.where(lambda s: s.customer_id == "C-1002")
    assert o.search("AKERLUNDS") == o.where(lambda s: s.customer_id == "C-1003")
    assert o.search("customer:ostra") == o.where(lambda s: s.customer_id == "C-1004")
    name = "深圳华南电子有限公司"
    for size in range(2, len(name) + 1):
        for start in range(len(name) - size + 1):
            run = name[start : start + size]
            want = o.where(lambda s: run in s.customer + "".join(s.address))
            assert o.search(run) >= want, run
    assert o.search("华南电子") == o.where(lambda s: s.customer_id == "C-1009")
    # 托盘 (pallet) is in item lines and in remarks such as 少一托盘 ("one pallet short").
    assert o.search("托盘") == o.where(lambda s: any("托盘" in i.description for i in s.items) or "托盘" in (s.remarks or ""))
    assert o.search("item:托盘") == o.where(lambda s: any("托盘" in i.description for i in s.items))


def test_fuzzy_and_did_you_mean(office: Office) -> None:
    o = office
    brightwater = o.where(lambda s: s.customer_id == "C-1005")
    assert o.search("brightwatr~") == brightwater
    assert o.search("hamnlagr~") == o.where(lambda s: s.customer_id == "C-1002")
    proc = signoff("search", "brightwatr", cwd=o.root)
    assert proc.returncode == 0 and proc.stdout == ""
    assert "did you mean: brightwater" in proc.stderr


def test_a_rescan_shows_once_unless_versions_are_asked_for(office: Office) -> None:
    dn = office.rescanned.delivery_number
    proc = signoff("search", "--json", f"delivery:{dn}", cwd=office.root)
    (hit,) = jsonl(proc.stdout)
    assert hit["version"] == 2 and hit["path"].endswith(f"{dn}.v2.pdf")
    every = jsonl(signoff("search", "--json", f"delivery:{dn}", "version:all", cwd=office.root).stdout)
    assert sorted(h["version"] for h in every) == [1, 2]
    show = signoff("show", "--json", dn.lower(), cwd=office.root)
    assert show.returncode == 0, show.stderr
    (record,) = jsonl(show.stdout)
    assert record["version"] == 2 and Path(record["pdf"]).is_file() and record["delivery_number"] == dn
    text = signoff("show", dn, cwd=office.root)
    assert record["pdf"] in text.stdout.replace("\n", "") and "also filed: v1" in text.stderr


def test_output_forms(office: Office) -> None:
    o = office
    paths = signoff("search", "--paths", "customer:brightwater", cwd=o.root).stdout.splitlines()
    assert len(paths) == 3 and all(Path(p).is_file() and p.endswith(".pdf") for p in paths)
    dated = jsonl(signoff("search", "--json", "--sort", "date", "--limit", "100", "signed:yes", cwd=o.root).stdout)
    days = [h["date"] for h in dated if h["date"]]
    assert days == sorted(days, reverse=True)
    page1 = jsonl(signoff("search", "--json", "--limit", "4", "--sort", "date", "signed:yes", cwd=o.root).stdout)
    page2 = jsonl(signoff("search", "--json", "--limit", "4", "--page", "2", "--sort", "date", "signed:yes", cwd=o.root).stdout)
    assert [h["path"] for h in page1 + page2] == [h["path"] for h in dated[:8]]
    table = signoff("search", "customer:brightwater", cwd=o.root)
    assert "«Brightwater»" in table.stdout and "of 3 hit(s)" in table.stdout


def test_reindex_gives_what_the_incremental_index_gave(office: Office) -> None:
    o = office
    queries = [("version:all",), ("signed:no",), ("customer:恒达",), ("date:2026-10",), ("brightwatr~",), ("pallet",)]

    def answers() -> dict[tuple[str, ...], list[tuple]]:
        out = {}
        for q in queries:
            proc = signoff("search", "--json", "--limit", "1000", *q, cwd=o.root)
            out[q] = sorted((h["path"], h["version"], h["latest"], h["status"], json.dumps(h["statuses"])) for h in jsonl(proc.stdout))
        return out

    before = answers()
    proc = signoff("reindex", cwd=o.root)
    assert proc.returncode == 0, proc.stderr
    assert f"indexed {len(o.truth) + 1} sheet(s)" in proc.stderr
    assert answers() == before
