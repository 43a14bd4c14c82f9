"""`signoff watch` as a service, end to end: the real command in a subprocess, real tesseract, real signals.

Few, small sheets (English only, 200 dpi): this machine reads a page in about five seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff
from tests.e2e.watching import CONFIG, Scan, Watch, batch_pdf, filed_pdfs, inbox_files, sheet_scan

pytestmark = [pytest.mark.slow, needs_tesseract]


@pytest.fixture(scope="module")
def scans() -> list[Scan]:
    out = [sheet_scan(seed) for seed in (21, 22, 23, 24, 25)]
    assert len({s.delivery_number for s in out}) == len(out)
    return out


def write_slowly(path: Path, data: bytes, pieces: int, pause: float, long_pause: float) -> None:
    """A scanner writing over an SMB share: many small pieces, and once a stall longer than the settle delay."""
    path.parent.mkdir(parents=True, exist_ok=True)
    step = len(data) // pieces + 1
    with path.open("wb") as fh:
        for i in range(pieces):
            fh.write(data[i * step : (i + 1) * step])
            fh.flush()
            time.sleep(long_pause if i == pieces // 2 else pause)


def test_watch_takes_whole_files_once_sets_aside_and_quarantines_and_stops_cleanly(tmp_path: Path, scans: list[Scan]) -> None:
    """GIVEN `signoff watch` running on an inbox that already holds one scan in a scanner folder
    WHEN a PDF arrives slowly in pieces (once stalling past the settle delay) under a name in three
    scripts, ignored files and folders, the first scan again, a corrupt PDF, a text file and a
    symbolic link arrive beside them
    THEN each good scan is filed once and whole, the repeat is set aside as a duplicate, each bad
    file is quarantined with its reason, ignored files stay, `status` says so; SIGTERM while a
    third scan is being read exits 0 and leaves that scan in the inbox; `verify` passes, and
    fails once a filed PDF is changed behind its back."""
    root = tmp_path
    (root / "signoff.toml").write_text(CONFIG)
    inbox = root / "inbox"
    (inbox / "scanner-1").mkdir(parents=True)
    (inbox / "scanner-1" / "first.png").write_bytes(scans[0].png)  # there before the watcher starts
    outside = tmp_path / "outside.png"
    outside.write_bytes(scans[3].png)

    watch = Watch(root)
    slow_name = "scanner-2/leverans åäö 送货单 #1.pdf"
    write_slowly(inbox / slow_name, scans[1].pdf, pieces=12, pause=0.2, long_pause=2.5)
    for name in (".hidden.pdf", "x.pdf.part", "Thumbs.db", "~$lock.pdf", "@eaDir/thumb.png"):
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(scans[2].png)
    (inbox / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + os.urandom(4000) + b"\n%%EOF\n")
    (inbox / "notes.pdf").write_text("minutes of the meeting, not a scan")
    (inbox / "link.png").symlink_to(outside)
    watch.wait_for(lambda: len(filed_pdfs(root)) >= 1, 120, "the first scan to be filed")
    (inbox / "again.png").write_bytes(scans[0].png)

    quarantine = root / "archive" / "_quarantine"
    watch.wait_for(
        # The outcome lines, not the files: a PDF lands before its sidecar, the index and the
        # original's removal, and under load that takes a while.
        lambda: len([x for x in watch.lines() if "event" in x]) >= 6,
        180,
        "two filed, three quarantined, one duplicate",
    )
    assert [p.stem for p in filed_pdfs(root)] == sorted([scans[0].delivery_number, scans[1].delivery_number])
    side = json.loads(next(p for p in filed_pdfs(root) if p.stem == scans[1].delivery_number).with_suffix(".json").read_text())
    assert side["source"]["name"] == Path(slow_name).name
    assert side["source"]["sha256"] == hashlib.sha256(scans[1].pdf).hexdigest()  # taken whole
    codes = {p.name.removesuffix(".reason.json"): json.loads(p.read_text())["code"] for p in quarantine.glob("*/*.reason.json")}
    assert codes == {"corrupt.pdf": "bad_input.corrupt_pdf", "notes.pdf": "bad_input.unsupported_type", "link.png": "bad_input.symlink"}
    (dup,) = (root / "archive" / "_duplicates").glob("*/*.duplicate.json")
    record = json.loads(dup.read_text())
    assert set(record) == {"sha256", "of", "source", "at"} and record["source"] == "again.png"
    assert record["of"].endswith(f"/{scans[0].delivery_number}.pdf")
    assert inbox_files(root) == sorted([".hidden.pdf", "@eaDir/thumb.png", "Thumbs.db", "x.pdf.part", "~$lock.pdf"])
    assert outside.read_bytes() == scans[3].png

    st = json.loads(signoff("status", "--json", cwd=root).stdout)
    assert st["service"]["running"] is True and st["waiting"] == 0 and st["in_flight"] == 0
    assert st["filed_today"] == {"files": 2, "sheets": 2}
    assert st["quarantined"]["today"] == 3 and st["duplicates"]["today"] == 1
    assert st["last_error"]["source"] in ("corrupt.pdf", "notes.pdf", "link.png")
    assert st["last_error"]["message"].startswith("bad_input.")

    # One line per outcome, as JSON: every file accounted for exactly once.
    events = [(x["event"], x["source"]) for x in watch.lines() if "event" in x]
    assert sorted(events) == sorted(
        [("filed", "scanner-1/first.png"), ("filed", slow_name), ("duplicate", "again.png"),
         ("quarantined", "corrupt.pdf"), ("quarantined", "notes.pdf"), ("quarantined", "link.png")]
    )

    # SIGTERM while a scan is being read: exit 0 at once, the scan stays for the next start.
    (inbox / "third.png").write_bytes(scans[2].png)
    watch.wait_for(lambda: json.loads(signoff("status", "--json", cwd=root).stdout)["in_flight"] == 1, 60, "reading")
    started = time.monotonic()
    assert watch.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 15
    assert "third.png" in inbox_files(root) and len(filed_pdfs(root)) == 2
    st = json.loads(signoff("status", "--json", cwd=root).stdout)
    assert st["service"]["running"] is False and st["in_flight"] == 0 and st["waiting"] == 1

    proc = signoff("verify", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    victim = filed_pdfs(root)[0]
    victim.write_bytes(victim.read_bytes() + b"\n% edited\n")
    proc = signoff("verify", "--json", cwd=root)
    assert proc.returncode == 1
    assert [(p["problem"], p["path"]) for p in jsonl(proc.stdout)] == [
        ("changed", victim.relative_to(root / "archive").as_posix())
    ]


def test_kill_9_during_a_batch_and_restarts_file_everything_exactly_once(tmp_path: Path, scans: list[Scan]) -> None:
    """GIVEN a batch PDF of three sheets and a single scan in the inbox
    WHEN `signoff watch` is killed with SIGKILL the moment a new sheet lands (often between two
    sheets of the batch), twice, and started again
    THEN every sheet is filed exactly once (no second version), the inbox ends empty, and the
    index and the archive agree (`signoff verify` finds nothing)."""
    root = tmp_path
    (root / "signoff.toml").write_text(CONFIG)
    inbox = root / "inbox"
    inbox.mkdir()
    (inbox / "depot").mkdir()
    (inbox / "depot" / "batch.pdf").write_bytes(batch_pdf([scans[0], scans[1], scans[2]]))
    (inbox / "single.png").write_bytes(scans[3].png)
    expected = sorted(s.delivery_number for s in scans[:4])
    sidecars = lambda: len(list((root / "archive").glob("[!_]*/*/*/*.json")))  # noqa: E731

    kills = 0
    while kills < 2:
        before = sidecars()
        watch = Watch(root)
        try:
            watch.wait_for(lambda: sidecars() > before or not inbox_files(root), 240, "a sheet to land", every=0.002)
        finally:
            watch.proc.kill()  # SIGKILL: no clean-up of any kind
            watch.proc.wait(30)
        kills += 1
        if not inbox_files(root):
            break
        # Between restarts: whatever the archive holds, it never holds a sheet twice.
        stems = [p.stem for p in filed_pdfs(root)]
        assert len(stems) == len(set(stems)) and not any(".v" in s for s in stems), stems

    watch = Watch(root)
    watch.wait_for(lambda: not inbox_files(root), 300, "the inbox to empty")
    assert watch.stop() == 0
    assert sorted(p.stem for p in filed_pdfs(root)) == expected
    proc = signoff("verify", "--json", cwd=root)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
    hits = jsonl(signoff("search", "--json", "--limit", "50", "version:all", "kind:signoff", cwd=root).stdout)
    assert sorted(h["delivery_number"] for h in hits) == expected


def test_a_rescan_is_filed_beside_the_first_as_a_new_version_that_search_and_show_prefer(
    tmp_path: Path, scans: list[Scan]
) -> None:
    """GIVEN `signoff watch` running, and a sheet it has filed
    WHEN the same delivery is scanned again (other bytes: a PDF this time) and dropped in the inbox
    THEN the rescan is filed as version 2 beside version 1 (both kept, neither overwritten), plain
    search and `show` give the newest, and `version:all` and `show --all` give both."""
    root = tmp_path
    (root / "signoff.toml").write_text(CONFIG)
    (root / "inbox").mkdir()
    dn = scans[4].delivery_number
    watch = Watch(root)
    outcomes = lambda: [x for x in watch.lines() if "event" in x]  # noqa: E731
    (root / "inbox" / "first.png").write_bytes(scans[4].png)
    watch.wait_for(lambda: len(outcomes()) >= 1, 240, "the first scan to be filed")
    (root / "inbox" / "rescan.pdf").write_bytes(scans[4].pdf)
    watch.wait_for(lambda: len(outcomes()) >= 2, 240, "the rescan to be filed")
    assert watch.stop() == 0
    assert [(x["event"], x["source"]) for x in outcomes()] == [("filed", "first.png"), ("filed", "rescan.pdf")]

    assert sorted(p.name for p in filed_pdfs(root)) == [f"{dn}.pdf", f"{dn}.v2.pdf"]
    cars = {p.name: json.loads(p.read_text()) for p in (root / "archive").glob("[!_]*/*/*/*.json")}
    assert sorted(c["version"] for c in cars.values()) == [1, 2]
    newest = next(c for c in cars.values() if c["version"] == 2)
    assert newest["source"]["sha256"] == hashlib.sha256(scans[4].pdf).hexdigest()

    (hit,) = jsonl(signoff("search", "--json", f"delivery:{dn}", cwd=root).stdout)
    assert hit["path"].endswith(f"{dn}.v2.pdf")
    hits = jsonl(signoff("search", "--json", f"delivery:{dn}", "version:all", cwd=root).stdout)
    assert sorted(h["path"].rsplit("/", 1)[1] for h in hits) == [f"{dn}.pdf", f"{dn}.v2.pdf"]
    (shown,) = jsonl(signoff("show", "--json", dn, cwd=root).stdout)
    assert shown["version"] == 2
    assert len(jsonl(signoff("show", "--json", "--all", dn, cwd=root).stdout)) == 2
