"""`signoff process` indexes in batches: one commit for many sheets, originals leave after it, a crash is healed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.index import IndexStore, PendingFolders, index_unindexed, pending_dir
from pipeline.run import Pipeline
from pipeline.settings import Settings, load_settings
from tests.unit.service_fakes import FakeEngine, fake_reader, write_png

ROOT = Path(__file__).resolve().parents[2]


def make_pipeline(settings: Settings, **kwargs: float) -> Pipeline:
    """A Pipeline whose reader takes the delivery numbers from the files' metadata (no OCR)."""
    pipe = Pipeline(settings, engine=FakeEngine(), **kwargs)  # type: ignore[arg-type]
    read = fake_reader(settings)
    pipe._documents = lambda src, pages: read(src.path).docs  # type: ignore[method-assign]
    return pipe


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = load_settings(env={}, cwd=tmp_path)
    s.inbox.mkdir(parents=True)
    s.archive.mkdir(parents=True)
    return s


def scans(settings: Settings, *dns: str) -> list[Path]:
    return [write_png(settings.inbox / f"scan-{i}.png", dn, seed=i) for i, dn in enumerate(dns)]


def indexed(settings: Settings) -> set[str]:
    with IndexStore.open(settings.index_dir) as store:
        return {h.delivery_number for h in store.search("version:all", limit=None)}


def filed(settings: Settings) -> list[str]:
    return sorted(p.stem for p in settings.archive.glob("Acme-Freight/**/*.pdf"))


def test_sheets_are_committed_in_batches_and_originals_leave_after_their_commit(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GIVEN five scans and batches of two sheets
    WHEN they are processed
    THEN the index is written in three commits (2, 2, 1 sheets, the last when the run ends), and
    a file leaves the inbox only with the commit that holds its sheets."""
    commits: list[int] = []
    add = IndexStore.add
    monkeypatch.setattr(IndexStore, "add", lambda self, sides: commits.append(len(sides)) or add(self, sides))
    files = scans(settings, "DN-1", "DN-2", "DN-3", "DN-4", "DN-5")
    seen: list[tuple[bool, int]] = []
    pipe = make_pipeline(settings, batch_sheets=2, batch_seconds=3600)

    def progress(outcome) -> None:  # noqa: ANN001
        seen.append((outcome.source.exists(), len(commits)))

    pipe.process_many(files, progress=progress)
    assert commits == [2, 2, 1]
    assert seen == [(True, 0), (False, 1), (True, 1), (False, 2), (True, 2)]
    assert not any(f.exists() for f in files)
    assert indexed(settings) == {"DN-1", "DN-2", "DN-3", "DN-4", "DN-5"}
    assert not pending_dir(settings.index_dir).exists() or not any(pending_dir(settings.index_dir).iterdir())


def test_a_batch_is_committed_when_its_time_is_up(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    commits: list[int] = []
    add = IndexStore.add
    monkeypatch.setattr(IndexStore, "add", lambda self, sides: commits.append(len(sides)) or add(self, sides))
    make_pipeline(settings, batch_sheets=1000, batch_seconds=0).process_many(scans(settings, "DN-1", "DN-2"))
    assert commits == [1, 1]


def test_an_interrupted_run_commits_what_it_filed(settings: Settings) -> None:
    """GIVEN a run interrupted (Ctrl-C) while reading its third file
    THEN the two files filed before are indexed and gone from the inbox; the third stays."""
    files = scans(settings, "DN-1", "DN-2", "DN-3")
    pipe = make_pipeline(settings, batch_sheets=50, batch_seconds=3600)
    documents = pipe._documents

    def _documents(src, pages):  # noqa: ANN001, ANN202
        if src.path == files[2]:
            raise KeyboardInterrupt
        return documents(src, pages)

    pipe._documents = _documents  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        pipe.process_many(files)
    assert indexed(settings) == {"DN-1", "DN-2"}
    assert [f.exists() for f in files] == [False, False, True]


_CHILD = """
import sys
from pathlib import Path
from pipeline.settings import load_settings
from tests.unit.test_run_batches import make_pipeline
settings = load_settings(env={}, cwd=Path(sys.argv[1]))
make_pipeline(settings, batch_sheets=2, batch_seconds=3600).process_many([Path(p) for p in sys.argv[2:]])
"""


def test_a_process_killed_mid_batch_leaves_nothing_unindexed_after_the_next_start(
    settings: Settings, tmp_path: Path
) -> None:
    """GIVEN a `signoff process` run in batches of two sheets that dies (os._exit, as kill -9)
    after committing one batch and filing one sheet of the next
    THEN the committed sheets are indexed and their originals gone; the sheet filed after is in
    the archive, not in the index, and its original still in the inbox; the next run indexes it
    before anything else; running its original again files nothing twice and lets it go."""
    files = scans(settings, "DN-1", "DN-2", "DN-3", "CRASH", "DN-5")
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), *map(str, files)], cwd=ROOT, capture_output=True, text=True
    )
    assert child.returncode == 3, child.stderr
    assert filed(settings) == ["DN-1", "DN-2", "DN-3"]
    assert indexed(settings) == {"DN-1", "DN-2"}  # and no entry without its file
    assert [f.exists() for f in files] == [False, False, True, True, True]
    assert len(list(pending_dir(settings.index_dir).glob("*.txt"))) == 1

    make_pipeline(settings).process_many([])  # the next start
    assert indexed(settings) == {"DN-1", "DN-2", "DN-3"}
    assert not list(pending_dir(settings.index_dir).iterdir())

    make_pipeline(settings).process_many(files[2:3])
    assert filed(settings) == ["DN-1", "DN-2", "DN-3"]
    assert indexed(settings) == {"DN-1", "DN-2", "DN-3"}
    assert not files[2].exists()


def test_a_live_runs_note_is_left_alone(settings: Settings) -> None:
    """A note whose writer is alive (holds its lock) is not taken over: that run will commit it."""
    write_png(settings.inbox / "a.png", "DN-1")
    notes = PendingFolders(pending_dir(settings.index_dir))
    notes.note("Acme-Freight/2025/03")
    with IndexStore.open(settings.index_dir) as store:
        assert index_unindexed(store, settings.archive) == 0
    assert len(list(pending_dir(settings.index_dir).glob("*.txt"))) == 1
    notes.committed()
    notes.close()
    assert not list(pending_dir(settings.index_dir).iterdir())
    assert os.path.isdir(pending_dir(settings.index_dir))


def test_outcomes_come_as_files_are_filed_and_a_caller_who_stops_leaves_nothing_half_done(settings: Settings) -> None:
    """GIVEN three scans, processed through process_iter (what `signoff process` uses, keeping nothing)
    WHEN the caller takes the first outcome and stops
    THEN the first file was filed before the second was read; stopping indexes it and lets its
    original go, and the other two stay in the inbox, not filed."""
    files = scans(settings, "DN-1", "DN-2", "DN-3")
    gen = make_pipeline(settings, batch_sheets=50, batch_seconds=3600).process_iter(files)
    first = next(gen)
    assert first.source == files[0] and [f.doc.delivery_number for f in first.filed] == ["DN-1"]
    assert filed(settings) == ["DN-1"]
    gen.close()
    assert indexed(settings) == {"DN-1"}
    assert [f.exists() for f in files] == [False, True, True]
