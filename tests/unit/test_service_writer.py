"""The one writer: sheets land whole, the index follows, the original goes last; a crash at any step is recovered."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.errors import ArchiveUnwritable, BadInput, ReasonCode
from pipeline.filing import file_document
from pipeline.index import IndexStore
from pipeline.service import writer as writer_module
from pipeline.service.journal import Journal, journal_path
from pipeline.service.pool import Read
from pipeline.service.verify import _index_paths, verify_archive
from pipeline.service.writer import Writer
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

    def take(self, path: Path):  # noqa: ANN201
        from pipeline.ingest import sha256_file

        st = path.stat()
        return self.journal.take(path.relative_to(self.inbox), sha256_file(path), st.st_size, st.st_mtime_ns)

    def restart(self) -> Env:
        """A new process after a kill: the old journal connection is simply dropped."""
        self.journal._db.close()
        self.store.close()
        return make_env(self.settings)

    def indexed(self) -> set[str]:
        return _index_paths(self.store)

    def filed(self) -> list[str]:
        return sorted(p.relative_to(self.archive).as_posix() for p in self.archive.glob("Acme-Freight/**/*.pdf"))


def make_env(settings: Settings) -> Env:
    journal = Journal.open(journal_path(settings.archive))
    journal.begin_run("watch")
    store = IndexStore.open(settings.index_dir)
    return Env(settings, journal, store, Writer(settings, journal, lambda: store, store.close))


@pytest.fixture
def env(tmp_path: Path) -> Env:
    (tmp_path / "inbox").mkdir()
    settings = load_settings(env={}, cwd=tmp_path)
    return make_env(settings)


def test_filed_indexed_then_the_original_leaves(env: Env) -> None:
    src = write_tiff(env.inbox / "depot" / "batch.tif", ["DN-1", "DN-2"])
    e = env.take(src)
    out = env.writer.file(e, src, env.read(src))
    assert out.event == "filed" and [f.outcome for f in out.filed] == ["filed", "filed"]
    assert env.filed() == ["Acme-Freight/2025/03/DN-1.pdf", "Acme-Freight/2025/03/DN-2.pdf"]
    assert env.indexed() == set(env.filed())
    assert not src.exists()
    assert env.journal.rows("SELECT state FROM files") == [("filed",)]
    assert verify_archive(env.settings).ok


def test_a_duplicate_is_set_aside_with_the_record_the_report_reads(env: Env) -> None:
    first = write_png(env.inbox / "a.png", "DN-1")
    data = first.read_bytes()
    env.writer.file(env.take(first), first, env.read(first))
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
    env.writer.file(env.take(one), one, env.read(one))
    two = write_png(env.inbox / "b.png", "DN-1", seed=2)
    out = env.writer.file(env.take(two), two, env.read(two))
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
    out = env.writer.file(e, src, env.read(src))
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
    out = env.writer.file(env.take(src), src, env.read(src))
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
    env.writer.file(env.take(src), src, env.read(src))
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
    assert env.writer.file(e, src, env.read(src)).event == "filed"
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
        env.writer.file(env.take(src), src, env.read(src))
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

