"""The journal remembers each file taken and each sheet filed, across a kill: a restart resumes."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.service.journal import Journal, printable


def journal(tmp_path: Path) -> Journal:
    j = Journal.open(tmp_path / "archive" / "_state" / "journal.sqlite")
    j.begin_run("watch")
    return j


def test_a_file_goes_from_taken_to_filed(tmp_path: Path) -> None:
    j = journal(tmp_path)
    e = j.take(Path("sub/a.pdf"), "a" * 64, 10, 1)
    assert not e.resumed and e.name == "sub/a.pdf"
    j.filing(e.id, 2, [("Acme/2025/03", "DN-1"), ("Acme/2025/03", "DN-2")])
    j.sheet(e.id, "Acme/2025/03/DN-1.pdf", "filed")
    j.sheet(e.id, "Acme/2025/03/DN-2.pdf", "filed")
    j.indexed(e.id)
    j.finish(e.id, "filed")
    assert j.filed_pdf("a" * 64) == "Acme/2025/03/DN-1.pdf"
    assert j.filed_pdf("b" * 64) is None
    day = j.rows("SELECT done_day FROM files WHERE id = ?", (e.id,))[0][0]
    counts = j.counts(day)
    assert counts["filed_files"] == 1 and counts["filed_sheets"] == 2 and counts["in_flight"] == {}


def test_an_interrupted_filing_is_resumed_by_the_next_run(tmp_path: Path) -> None:
    """GIVEN a run killed after the first of two sheets was filed
    WHEN the journal is opened again and the same content taken
    THEN the row is reported interrupted with its sheet, and taking it again resumes it."""
    j = journal(tmp_path)
    e = j.take(Path("batch.pdf"), "c" * 64, 10, 1)
    j.filing(e.id, 2, [("Acme/2025/03", "DN-1"), ("Acme/2025/03", "DN-2")])
    j.sheet(e.id, "Acme/2025/03/DN-1.pdf", "filed")
    j._db.close()  # kill -9: no goodbye

    j2 = journal(tmp_path)
    (row,) = j2.interrupted()
    assert (row.id, row.state, row.docs, row.sheets) == (e.id, "filing", 2, ("Acme/2025/03/DN-1.pdf",))
    assert set(row.planned) == {("Acme/2025/03", "DN-1"), ("Acme/2025/03", "DN-2")}
    again = j2.take(Path("renamed-batch.pdf"), "c" * 64, 10, 2)
    assert again.id == e.id and again.resumed
    assert j2.interrupted() == []  # now it belongs to this run


def test_releasing_keeps_a_resumable_row_resumable(tmp_path: Path) -> None:
    j = journal(tmp_path)
    e = j.take(Path("a.pdf"), "d" * 64, 10, 1)
    j.release(e.id)  # nothing written: handed back
    assert j.rows("SELECT state FROM files WHERE id = ?", (e.id,)) == [("released",)]
    f = j.take(Path("b.pdf"), "e" * 64, 10, 1)
    j.filing(f.id, 1, [])
    j.release(f.id)  # the archive was full mid-filing
    assert j.rows("SELECT state FROM files WHERE id = ?", (f.id,)) == [("filing",)]
    assert j.take(Path("b.pdf"), "e" * 64, 10, 1).resumed


def test_a_reading_row_of_a_killed_run_is_interrupted(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.take(Path("a.pdf"), "f" * 64, 10, 1)
    j._db.close()
    j2 = journal(tmp_path)
    assert [r.state for r in j2.interrupted()] == ["reading"]
    assert j2.counts("2000-01-01")["in_flight"] == {"reading": 1}


def test_file_names_that_are_not_utf8_or_hold_control_characters(tmp_path: Path) -> None:
    j = journal(tmp_path)
    weird = Path(os.fsdecode(b"scan-\xff\xfe-\x01\n.pdf"))
    e = j.take(weird, "0" * 64, 1, 1)
    j._db.close()
    (row,) = journal(tmp_path).interrupted()
    assert row.rel == weird  # the exact bytes come back
    assert "\n" not in e.name and "\x01" not in e.name and e.name.isprintable()
    assert printable(Path("送货单 åäö.pdf")) == "送货单 åäö.pdf"


def test_status_reads_the_journal_while_a_run_writes_it(tmp_path: Path) -> None:
    j = journal(tmp_path)
    j.take(Path("a.pdf"), "1" * 64, 10, 1)
    j.error("a.pdf", "cannot write the archive: disk full")
    ro = Journal.open_readonly(j.path)
    assert ro is not None
    counts = ro.counts("2000-01-01")
    assert counts["in_flight"] == {"reading": 1}
    assert counts["last_error"]["message"] == "cannot write the archive: disk full"
    assert counts["run"]["pid"] == os.getpid() and counts["run"]["stopped_at"] is None
    assert Journal.open_readonly(tmp_path / "none.sqlite") is None
