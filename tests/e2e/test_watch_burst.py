"""`signoff watch` under a burst: several hundred files dropped at once are all filed, once each, in bounded memory.

The real command in a subprocess with the real reader (tesseract, zbar, poppler, whoosh). To keep
it to a few minutes on two cores, most files are small notes (a line or two of text on a small page;
no sheet labels, so they are filed as kind "other" under `_other/`), each with its own text; a few
are real generated sign-off sheets whose delivery numbers must come out of the index.
"""

from __future__ import annotations

import hashlib
import io
import json
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from pipeline.proctree import MemoryWatch
from pipeline.samples.render import _LATIN, _font
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff
from tests.e2e.watching import CONFIG, Watch, batch_pdf, inbox_files, sheet_scan

pytestmark = [pytest.mark.slow, needs_tesseract]

NOTES = 300
FOLDERS = ("", "depot-1", "depot-2", "depot-3", "scanner-north", "scanner-south", "lager-gävle")
# The service process only files and indexes; a reader reads one page at a time. Measured on the
# 2-core machine: about 100 MB for the service, 290-380 MB for a reader (a 200 dpi sheet is its
# largest file). Generous bounds: what they catch is memory that grows with the files waiting.
MAIN_PEAK_MB = 400
READER_PEAK_MB = 800


def note(i: int) -> tuple[str, bytes]:
    """A small page with two lines of text, as a courier or the night shift leaves: (suffix, bytes)."""
    family = _LATIN[i % len(_LATIN)]
    img = Image.new("L", (640, 420), 255)
    draw = ImageDraw.Draw(img)
    font = _font(family.regular, 34, family.index)
    # "Remarks" is a sheet's label but not one that makes a page a sheet: the page is "other", and
    # reading it upright (a label found) needs one tesseract pass besides the orientation check.
    draw.text((30, 130), f"Remarks: pallet {i:04d} left", font=font, fill=0)
    draw.text((30, 200), f"at gate {'ABCDEFGH'[i % 8]}, bay {i % 17 + 1}", font=font, fill=0)
    buf = io.BytesIO()
    kind = ("pdf", "jpg", "png", "png", "png")[i % 5]
    if kind == "pdf":
        img.save(buf, format="PDF", resolution=300)
    elif kind == "jpg":
        img.save(buf, format="JPEG", quality=90, dpi=(300, 300))
    else:
        img.save(buf, format="PNG", dpi=(300, 300))
    return kind, buf.getvalue()


def filed(archive: Path, pattern: str) -> list[Path]:
    """Files in the archive's document folders (customers, `_unknown`, `_other`), not in the service's own."""
    own = ("_state", "_index", "_quarantine", "_duplicates")
    return [p for p in archive.rglob(pattern) if p.relative_to(archive).parts[0] not in own]


def test_a_burst_of_several_hundred_files_is_all_filed_once_in_bounded_memory(tmp_path: Path) -> None:
    """GIVEN `signoff watch` (two readers) running on an empty inbox
    WHEN 300 small notes (PNG, JPEG and PDF, each with its own text) and three real sign-off scans
    (two single sheets and a batch of two) are written into seven folders of the inbox as fast as
    they can be
    THEN every file is filed exactly once (one outcome line each, one sidecar per sheet, no second
    version, no duplicate), nothing is quarantined, the inbox ends empty, the index holds every
    sheet and finds the four delivery numbers, `status` and `verify` agree, and neither the service
    process nor a reader grows past a generous memory bound."""
    root = tmp_path
    (root / "signoff.toml").write_text(CONFIG)
    inbox, archive = root / "inbox", root / "archive"
    inbox.mkdir()

    # Everything is made before the burst, so the burst is only writes.
    sheets = [sheet_scan(seed) for seed in (41, 42, 43, 44)]
    assert len({s.delivery_number for s in sheets}) == 4
    drops: dict[str, bytes] = {}
    for i in range(NOTES):
        kind, data = note(i)
        drops[(Path(FOLDERS[i % len(FOLDERS)]) / f"note-{i:04d}.{kind}").as_posix()] = data
        if i == NOTES // 4:
            drops["depot-1/sheet-a.png"] = sheets[0].png
        elif i == NOTES // 2:
            drops["scanner-north/batch.pdf"] = batch_pdf(sheets[1:3])
        elif i == 3 * NOTES // 4:
            drops["sheet-b.pdf"] = sheets[3].pdf
    shas = {name: hashlib.sha256(data).hexdigest() for name, data in drops.items()}
    assert len(set(shas.values())) == len(drops)  # no two files alike: none is a duplicate of another
    sheets_of = {name: 2 if name.endswith("batch.pdf") else 1 for name in drops}

    watch = Watch(root)
    memory = MemoryWatch(watch.proc.pid).start()
    started = time.monotonic()
    for name, data in drops.items():
        (inbox / name).parent.mkdir(parents=True, exist_ok=True)
        (inbox / name).write_bytes(data)
    written = time.monotonic() - started
    # Not strict: zbar prints its own warnings on stderr (the log) on some pages; not this test's subject.
    outcomes = lambda: [x for x in watch.lines(strict=False) if "event" in x]  # noqa: E731
    watch.wait_for(lambda: not inbox_files(root), 480, "the inbox to empty", every=1.0)
    took = time.monotonic() - started
    deadline = time.monotonic() + 15  # a file leaves the inbox just before its outcome line is logged
    while len(outcomes()) < len(drops) and time.monotonic() < deadline:
        time.sleep(0.5)

    st = json.loads(signoff("status", "--json", cwd=root).stdout)
    memory.stop()
    assert watch.stop(signal.SIGTERM) == 0

    # One outcome per file, and it is "filed": none lost, none taken twice, none set aside.
    events, want = Counter((x["event"], x["source"]) for x in outcomes()), Counter(("filed", n) for n in drops)
    assert events == want, f"missing {sorted(want - events)}, more than once or not filed {sorted(events - want)}"
    assert inbox_files(root) == []
    assert not (archive / "_quarantine").exists() and not (archive / "_duplicates").exists()

    # The archive: one sidecar per sheet, each beside its PDF, never a second version.
    cars = [json.loads(p.read_text()) for p in filed(archive, "*.json")]
    assert Counter(c["source"]["sha256"] for c in cars) == Counter({shas[n]: sheets_of[n] for n in drops})
    assert all(c["version"] == 1 for c in cars)
    assert all((archive / c["file"]["path"]).is_file() for c in cars)
    assert len(filed(archive, "*.pdf")) == len(cars) == NOTES + 4
    assert Counter(c["kind"] for c in cars) == {"other": NOTES, "signoff": 4}
    assert all(c["file"]["path"].startswith("_other/") for c in cars if c["kind"] == "other")

    # The index holds every sheet once; the real sheets are found by their delivery numbers.
    hits = jsonl(signoff("search", "--json", "--limit", "1000", "version:all", "kind:other", cwd=root).stdout)
    assert len(hits) == NOTES and len({h["path"] for h in hits}) == NOTES
    hits = jsonl(signoff("search", "--json", "--limit", "50", "version:all", "kind:signoff", cwd=root).stdout)
    assert sorted(h["delivery_number"] for h in hits) == sorted(s.delivery_number for s in sheets)
    proc = signoff("verify", "--json", cwd=root)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr

    assert st["waiting"] == 0 and st["in_flight"] == 0
    assert st["filed_today"] == {"files": len(drops), "sheets": NOTES + 4}
    assert st["quarantined"]["today"] == 0 and st["duplicates"]["today"] == 0 and st["last_error"] is None

    # Bounded memory: with 303 files waiting, the service process and each reader stay under the bounds.
    readers = memory.readers
    print(
        f"\n{len(drops)} files written in {written:.1f} s, all filed {took:.0f} s after the first;"
        f" peak MB: service {memory.main_kb / 1024:.0f},"
        f" readers {[round(kb / 1024) for kb, _ in readers.values()]}, tree {memory.tree_kb / 1024:.0f}"
        f" ({memory.samples} samples)"
    )
    assert memory.samples > 10 and 0 < len(readers) <= 4  # two readers (one more if one had died)
    assert memory.main_kb / 1024 < MAIN_PEAK_MB
    assert max(kb for kb, _ in readers.values()) / 1024 < READER_PEAK_MB
