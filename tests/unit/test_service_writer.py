"""The one writer: sheets land whole, the index follows, the original goes last; a crash at any step is recovered."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.errors import ArchiveUnwritable, BadInput, ReasonCode
from pipeline.filing import file_document
from pipeline.index import IndexStore
from pipeline.service import writer as writer_module
from pipeline.run import BATCH_SECONDS, BATCH_SHEETS
from pipeline.service.journal import Entry, Journal, journal_path
from pipeline.service.reading import Read
from pipeline.service.status import build_status
from pipeline.service.verify import _index_paths, verify_archive
from pipeline.service.writer import Outcome, Writer
from pipeline.settings import Settings, load_settings
from tests.unit.service_fakes import fake_reader, write_png, write_tiff


class Killed(BaseException):
    """The process dies here (kill -9): nothing after this line runs."""


@dataclass
class Env:
    settings: Settings
    journal: Journal
    store: IndexStore
    writer: Writer

    @property
    def inbox(self) -> Path:
        return self.settings.inbox

    @property
    def archive(self) -> Path:
        return self.settings.archive

    def read(self, path: Path) -> Read:
        return fake_reader(self.settings)(path)

    def take(self, path: Path) -> Entry:
        from pipeline.ingest import sha256_file

        st = path.stat()
        return self.journal.take(path.relative_to(self.inbox), sha256_file(path), st.st_size, st.st_mtime_ns)

    def file(self, path: Path, entry: Entry | None = None) -> Outcome:
        """File one file and commit it on its own, as the service does when nothing else is coming."""
        out = self.writer.file(entry or self.take(path), path, self.read(path))
        if out is not None:
            return out
        (pending,) = self.writer.commit()
        return self.writer.let_go(pending)

    def restart(self) -> Env:
        """A new process after a kill: the old journal connection is simply dropped."""
        self.journal._db.close()
        self.store.close()
        return make_env(self.settings)

    def indexed(self) -> set[str]:
        return _index_paths(self.store)

    def filed(self) -> list[str]:
        return sorted(p.relative_to(self.archive).as_posix() for p in self.archive.glob("Acme-Freight/**/*.pdf"))


def make_env(settings: Settings, clock: Callable[[], float] = time.monotonic) -> Env:
    journal = Journal.open(journal_path(settings.archive))
    journal.begin_run("watch")
    store = IndexStore.open(settings.index_dir)
    writer = Writer(
        settings, journal, lambda: store, store.close, batch_sheets=BATCH_SHEETS, batch_seconds=BATCH_SECONDS, clock=clock
    )
    return Env(settings, journal, store, writer)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    (tmp_path / "inbox").mkdir()
    settings = load_settings(env={}, cwd=tmp_path)
    return make_env(settings)


def test_filed_indexed_then_the_original_leaves(env: Env) -> None:
    src = write_tiff(env.inbox / "depot" / "batch.tif", ["DN-1", "DN-2"])
    out = env.file(src)
    assert out.event == "filed" and [f.outcome for f in out.filed] == ["filed", "filed"]
    assert env.filed() == ["Acme-Freight/2025/03/DN-1.pdf", "Acme-Freight/2025/03/DN-2.pdf"]
    assert env.indexed() == set(env.filed())
    assert not src.exists()
    assert env.journal.rows("SELECT state FROM files") == [("filed",)]
    assert verify_archive(env.settings).ok


def test_files_wait_in_the_batch_for_one_index_commit_and_only_then_leave(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN three files filed one after another (four sheets)
    WHEN the batch is committed
    THEN their sheets go to the index in one add, while every original is still in the inbox;
    before it, each waits in the inbox, in flight for `status`; after it, each original leaves."""
    srcs = [
        write_png(env.inbox / "a.png", "DN-1", seed=1),
        write_tiff(env.inbox / "depot" / "b.tif", ["DN-2", "DN-3"]),
        write_png(env.inbox / "c.png", "DN-4", seed=4),
    ]
    adds: list[tuple[list[str], bool]] = []
    add = env.store.add

    def spy(sidecars):  # noqa: ANN001, ANN202
        adds.append(([s["file"]["path"] for s in sidecars], all(p.exists() for p in srcs)))
        return add(sidecars)

    monkeypatch.setattr(env.store, "add", spy)
    entries = [env.take(src) for src in srcs]
    for e, src in zip(entries, srcs):
        assert env.writer.file(e, src, env.read(src)) is None  # it waits in the batch
    assert env.writer.pending == 3 and env.writer.holds(entries[1].sha256)
    assert len(env.filed()) == 4 and env.indexed() == set() and adds == []
    assert all(src.exists() for src in srcs)
    assert env.journal.rows("SELECT DISTINCT state FROM files") == [("filing",)]
    st = build_status(env.settings)
    assert (st["waiting"], st["in_flight"], st["in_flight_by_state"]) == (0, 3, {"filing": 3})

    done = env.writer.commit()
    assert adds == [(env.filed(), True)] and env.indexed() == set(env.filed())
    assert env.writer.pending == 0 and not env.writer.holds(entries[1].sha256)
    outcomes = [env.writer.let_go(p) for p in done]
    assert [(o.event, o.name, len(o.filed)) for o in outcomes] == [
        ("filed", "a.png", 1), ("filed", "depot/b.tif", 2), ("filed", "c.png", 1)
    ]
    assert not any(src.exists() for src in srcs)
    assert env.journal.rows("SELECT DISTINCT state FROM files") == [("filed",)]
    assert build_status(env.settings)["in_flight"] == 0
    assert verify_archive(env.settings).ok


def test_a_batch_is_due_at_batch_sheets_sheets_or_once_its_oldest_file_waited_batch_seconds(tmp_path: Path) -> None:
    (tmp_path / "inbox").mkdir()
    clock = [1000.0]
    env = make_env(load_settings(env={}, cwd=tmp_path), clock=lambda: clock[0])

    def file(src: Path) -> None:
        assert env.writer.file(env.take(src), src, env.read(src)) is None

    assert not env.writer.due()  # nothing waits
    file(write_tiff(env.inbox / "big.tif", [f"DN-{i}" for i in range(1, BATCH_SHEETS)]))
    clock[0] += BATCH_SECONDS - 1
    assert not env.writer.due()
    file(write_png(env.inbox / "one-more.png", "DN-X"))
    assert env.writer.due()  # BATCH_SHEETS sheets
    assert len(env.writer.commit()) == 2 and not env.writer.due()

    file(write_png(env.inbox / "lone.png", "DN-Y"))
    clock[0] += BATCH_SECONDS - 1
    assert not env.writer.due()
    clock[0] += 1
    assert env.writer.due()  # waited BATCH_SECONDS


def test_a_duplicate_is_set_aside_with_the_record_the_report_reads(env: Env) -> None:
    first = write_png(env.inbox / "a.png", "DN-1")
    data = first.read_bytes()
    env.file(first)
    again = env.inbox / "scanner-2" / "again 送货单.png"
    again.parent.mkdir()
    again.write_bytes(data)
    e = env.take(again)
    of = env.journal.filed_pdf(e.sha256)
    assert of == "Acme-Freight/2025/03/DN-1.pdf"
    out = env.writer.duplicate(e, again, e.sha256, of)
    assert not again.exists() and out.target is not None and out.target.read_bytes() == data
    assert out.target.parent.parent == env.archive / "_duplicates"
    record = json.loads(out.target.with_name(out.target.name + ".duplicate.json").read_text(encoding="utf-8"))
    assert set(record) == {"sha256", "of", "source", "at"}
    assert record["sha256"] == e.sha256 and record["of"] == of and record["source"] == "again 送货单.png"
    assert env.filed() == ["Acme-Freight/2025/03/DN-1.pdf"]
    assert verify_archive(env.settings).ok


def test_content_filed_before_the_journal_knew_it_is_a_duplicate_too(env: Env) -> None:
    src = write_png(env.inbox / "a.png", "DN-1")
    read = env.read(src)
    file_document(read.docs[0], env.archive, read.kind, env.writer._now())  # `signoff process`, no journal
    out = env.writer.file(env.take(src), src, read)
    assert out.event == "duplicate" and out.of == "Acme-Freight/2025/03/DN-1.pdf"
    assert env.indexed() == {"Acme-Freight/2025/03/DN-1.pdf"}  # and the index heals on the way


def test_a_rescan_is_a_new_version_beside_the_old(env: Env) -> None:
    one = write_png(env.inbox / "a.png", "DN-1", seed=1)
    env.file(one)
    two = write_png(env.inbox / "b.png", "DN-1", seed=2)
    out = env.file(two)
    assert [f.outcome for f in out.filed] == ["rescan"]
    assert env.filed() == ["Acme-Freight/2025/03/DN-1.pdf", "Acme-Freight/2025/03/DN-1.v2.pdf"]
    assert env.indexed() == set(env.filed())


def _crash_on_call(monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    calls = {"n": 0}

    def dying(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == n:
            raise Killed
        return file_document(*args, **kwargs)

    monkeypatch.setattr(writer_module, "file_document", dying)


def test_killed_between_two_sheets_of_a_batch(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIVEN a batch of three sheets, the writer killed after the first was filed
    WHEN the service starts again, recovers, and takes the batch again from the inbox
    THEN every sheet is filed exactly once (no .v2), all are indexed, and only then the batch leaves."""
    src = write_tiff(env.inbox / "batch.tif", ["DN-1", "DN-2", "DN-3"])
    _crash_on_call(monkeypatch, 2)
    with pytest.raises(Killed):
        env.writer.file(env.take(src), src, env.read(src))
    assert src.exists() and env.filed() == ["Acme-Freight/2025/03/DN-1.pdf"]
    monkeypatch.undo()

    env = env.restart()
    stats = env.writer.recover()
    assert stats["resumable"] == 1 and src.exists()
    assert env.indexed() == {"Acme-Freight/2025/03/DN-1.pdf"}  # what was filed is searchable at once
    e = env.take(src)
    assert e.resumed
    out = env.file(src, e)
    assert out.event == "filed"
    assert [f.outcome for f in out.filed] == ["duplicate", "filed", "filed"]
    assert env.filed() == [f"Acme-Freight/2025/03/DN-{i}.pdf" for i in (1, 2, 3)]
    assert env.indexed() == set(env.filed())
    assert not src.exists()
    assert verify_archive(env.settings).ok


def test_killed_between_a_pdf_and_its_sidecar(env: Env) -> None:
    """The PDF landed, its sidecar did not: recovery moves the half-filed PDF out of the way, so the
    retry files the sheet at its own name, not as a second version."""
    src = write_tiff(env.inbox / "batch.tif", ["DN-1", "DN-2"])
    e = env.take(src)
    read = env.read(src)
    env.journal.filing(e.id, 2, [("Acme-Freight/2025/03", "DN-1"), ("Acme-Freight/2025/03", "DN-2")])
    f = file_document(read.docs[0], env.archive, read.kind, env.writer._now())
    env.journal.sheet(e.id, "Acme-Freight/2025/03/DN-1.pdf", f.outcome)
    half = file_document(read.docs[1], env.archive, read.kind, env.writer._now())
    half.pdf.with_suffix(".json").unlink()  # as if killed right after the PDF's rename
    (half.pdf.parent / ".DN-2.json.tmp-999999").write_bytes(b"{")  # and its sidecar's temp file left

    env = env.restart()
    stats = env.writer.recover()
    assert stats["orphans"] == 1 and stats["temp_files"] == 1
    assert list((env.archive / "_state" / "recovered").iterdir())[0].name.endswith("DN-2.pdf")
    out = env.file(src)
    assert [x.outcome for x in out.filed] == ["duplicate", "filed"]
    assert env.filed() == ["Acme-Freight/2025/03/DN-1.pdf", "Acme-Freight/2025/03/DN-2.pdf"]
    assert verify_archive(env.settings).ok


@pytest.mark.parametrize("state", ["indexed", "filing"])
def test_killed_after_every_sheet_was_filed(env: Env, state: str) -> None:
    """All sheets filed (and maybe indexed), the original not yet removed: recovery indexes them and
    lets the original go, without reading it again."""
    src = write_tiff(env.inbox / "batch.tif", ["DN-1", "DN-2"])
    e = env.take(src)
    read = env.read(src)
    env.journal.filing(e.id, 2, [])
    for doc in read.docs:
        f = file_document(doc, env.archive, read.kind, env.writer._now())
        env.journal.sheet(e.id, env.writer.rel(f.pdf), f.outcome)
    if state == "indexed":
        env.store.add([json.loads(p.with_suffix(".json").read_text()) for p in env.archive.glob("Acme-Freight/**/*.pdf")])
        env.journal.indexed(e.id)

    env = env.restart()
    stats = env.writer.recover()
    assert stats["finished"] == 1 and stats["resumable"] == 0
    assert not src.exists()
    assert env.indexed() == set(env.filed()) and len(env.filed()) == 2
    assert env.journal.rows("SELECT state FROM files") == [("filed",)]


def test_killed_after_filing_before_the_batch_was_committed(env: Env) -> None:
    """GIVEN two files filed by the writer, waiting in the batch for the index commit
    WHEN the process is killed before the commit
    THEN the next start indexes their sheets, lets both originals go and records them filed,
    without reading them again."""
    srcs = [write_png(env.inbox / "a.png", "DN-1", seed=1), write_tiff(env.inbox / "b.tif", ["DN-2", "DN-3"])]
    for src in srcs:
        assert env.writer.file(env.take(src), src, env.read(src)) is None
    assert all(src.exists() for src in srcs) and env.indexed() == set() and len(env.filed()) == 3

    env = env.restart()  # killed: the batch was never committed
    stats = env.writer.recover()
    assert (stats["finished"], stats["resumable"], stats["reindexed"]) == (2, 0, 3)
    assert not any(src.exists() for src in srcs)
    assert env.indexed() == set(env.filed()) and len(env.filed()) == 3
    assert env.journal.rows("SELECT DISTINCT state FROM files") == [("filed",)]
    assert verify_archive(env.settings).ok


def test_killed_while_reading_nothing_to_undo(env: Env) -> None:
    src = write_png(env.inbox / "a.png", "DN-1")
    env.take(src)
    env = env.restart()
    env.writer.recover()
    assert src.exists() and env.filed() == []
    assert env.journal.rows("SELECT state FROM files") == [("released",)]
    e = env.take(src)
    assert not e.resumed


def test_an_index_entry_whose_file_is_gone_is_dropped_at_start(env: Env) -> None:
    src = write_png(env.inbox / "a.png", "DN-1")
    env.file(src)
    for p in env.archive.glob("Acme-Freight/**/DN-1.*"):
        p.unlink()
    env = env.restart()
    assert env.writer.recover()["unindexed"] == 1
    assert env.indexed() == set()


def test_a_full_archive_leaves_the_scan_in_the_inbox_and_the_retry_resumes(env: Env) -> None:
    src = write_tiff(env.inbox / "batch.tif", ["DN-1", "DN-2"])
    blocker = env.archive / "Acme-Freight"
    blocker.write_text("in the way")  # the customer folder cannot be made: like a full or read-only disk
    e = env.take(src)
    with pytest.raises(ArchiveUnwritable):
        env.writer.file(e, src, env.read(src))
    env.journal.release(e.id)
    assert src.exists() and env.indexed() == set()
    blocker.unlink()
    e = env.take(src)
    assert e.resumed
    assert env.file(src, e).event == "filed"
    assert len(env.filed()) == 2 and not src.exists()


def test_a_symbolic_link_is_quarantined_as_a_link_and_its_target_left_alone(env: Env, tmp_path: Path) -> None:
    target = tmp_path / "outside.pdf"
    target.write_bytes(b"%PDF- not yours")
    link = env.inbox / "link.pdf"
    link.symlink_to(target)
    e = env.journal.take(Path("link.pdf"), None, 0, 0)
    err = BadInput("link.pdf is a symbolic link", reason=ReasonCode.SYMLINK, stage="watch")
    out = env.writer.quarantine(e, link, err, None)
    assert out.target is not None and out.target.is_symlink() and not os.path.lexists(link)
    assert target.read_bytes() == b"%PDF- not yours"
    reason = json.loads(out.target.with_name(out.target.name + ".reason.json").read_text())
    assert reason["code"] == "bad_input.symlink" and reason["sha256"] is None


def test_verify_finds_a_file_changed_behind_its_back_and_repairs_the_index(env: Env) -> None:
    for i in (1, 2, 3):
        src = write_png(env.inbox / f"{i}.png", f"DN-{i}", seed=i)
        env.file(src)
    assert verify_archive(env.settings).ok
    one, two, three = (env.archive / f"Acme-Freight/2025/03/DN-{i}.pdf" for i in (1, 2, 3))
    with one.open("ab") as fh:
        fh.write(b"\n% changed\n")
    two.unlink()  # its sidecar stays
    env.store.delete(["Acme-Freight/2025/03/DN-3.pdf"])
    shutil.copy(three, three.with_name("stray.pdf"))
    (env.archive / "Acme-Freight" / ".x.json.tmp-999999").write_text("{")

    report = verify_archive(env.settings)
    kinds = {(p.kind, p.path) for p in report.problems}
    assert kinds == {
        ("changed", "Acme-Freight/2025/03/DN-1.pdf"),
        ("missing", "Acme-Freight/2025/03/DN-2.pdf"),
        ("index_orphan", "Acme-Freight/2025/03/DN-2.pdf"),
        ("not_indexed", "Acme-Freight/2025/03/DN-3.pdf"),
        ("unexpected", "Acme-Freight/2025/03/stray.pdf"),
        ("temp", "Acme-Freight/.x.json.tmp-999999"),
    }
    assert not report.ok

    repaired = verify_archive(env.settings, repair=True)
    fixed = {p.kind for p in repaired.problems if p.repaired}
    assert fixed == {"index_orphan", "not_indexed", "temp"}
    left = {p.kind for p in verify_archive(env.settings).problems}
    assert left == {"changed", "missing", "unexpected"}  # a person must look at those

