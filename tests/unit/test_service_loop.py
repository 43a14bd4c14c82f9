"""The service loop with real worker processes and a real observer; only the reading is a stand-in (no tesseract)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ArchiveUnwritable
from pipeline.index import IndexLocked, IndexStore
from pipeline.ingest import sha256_file
from pipeline.service import WatchService
from pipeline.service import loop as loop_module
from pipeline.service.journal import Journal, journal_path
from pipeline.service.status import build_status
from pipeline.settings import Settings, load_settings
from tests.unit.service_fakes import FakeEngine, fake_reader, write_png, write_tiff


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or check}")


class Running:
    """A WatchService in a thread (signals are the CLI's; here request_stop() stops it)."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.settings = settings
        self.outcomes: list[Any] = []
        self.service = WatchService(
            settings, reader=fake_reader, engine=FakeEngine(), on_outcome=self.outcomes.append, **kwargs
        )
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.service.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def __enter__(self) -> Running:
        self.thread.start()
        # Watching once the journal says this run started.
        wait_for(lambda: journal_path(self.settings.archive).exists() and self.journal_rows("SELECT id FROM runs"), what="start")
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 20.0) -> float:
        started = time.monotonic()
        self.service.request_stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the service did not stop"
        if self.error is not None:
            raise self.error
        return time.monotonic() - started

    def journal_rows(self, sql: str) -> list[tuple[Any, ...]]:
        j = Journal.open_readonly(journal_path(self.settings.archive))
        if j is None:
            return []
        try:
            return j.rows(sql)
        finally:
            j.close()

    def filed(self) -> list[Path]:
        return sorted(self.settings.archive.glob("Acme-Freight/**/*.pdf"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    (tmp_path / "inbox").mkdir()
    base = load_settings(env={}, cwd=tmp_path)
    return replace(base, settle=0.4, workers=2, rescan_interval=3600.0, incomplete_timeout=300.0)


def inbox_files(settings: Settings) -> list[str]:
    return sorted(p.relative_to(settings.inbox).as_posix() for p in settings.inbox.rglob("*") if not p.is_dir())


def test_a_burst_is_filed_exactly_once_in_order_of_arrival(settings: Settings) -> None:
    """GIVEN the service running
    WHEN 100 scans arrive at once in three scanner folders
    THEN each is taken once, in the order it arrived, filed and indexed; the inbox is empty."""
    n = 100
    with Running(settings) as svc:
        names = []
        for i in range(n):
            rel = f"scanner-{i % 3}/{i:03}.png"
            write_png(settings.inbox / rel, f"DN-{i:03}", seed=i)
            names.append(rel)
            time.sleep(0.01)  # file times are only as fine as the kernel's clock tick
        wait_for(lambda: len(svc.filed()) == n and not inbox_files(settings), timeout=120, what="all filed")
    rows = svc.journal_rows("SELECT name, state FROM files ORDER BY id")
    assert [r[0] for r in rows] == names  # taken once each, in order of arrival
    assert {r[1] for r in rows} == {"filed"}
    assert {o.event for o in svc.outcomes} == {"filed"} and len(svc.outcomes) == n
    with IndexStore.open(settings.index_dir) as store:
        assert store.count() == n


def test_a_file_written_in_pieces_is_taken_whole(settings: Settings, tmp_path: Path) -> None:
    """Pieces with short pauses (under the settle delay), then one long pause mid-file (over it):
    the second file does not look complete yet, so it waits; both are filed whole, once."""
    whole = [write_png(tmp_path / f"w{i}.png", f"DN-{i}", seed=i).read_bytes() for i in (1, 2)]
    with Running(settings) as svc:
        with (settings.inbox / "slow.png").open("wb") as fh:
            for k in range(0, len(whole[0]), 400):
                fh.write(whole[0][k : k + 400])
                fh.flush()
                time.sleep(0.1)
        with (settings.inbox / "paused.png").open("wb") as fh:
            half = len(whole[1]) // 2
            fh.write(whole[1][:half])
            fh.flush()
            time.sleep(1.5)  # the scanner stalls longer than the settle delay
            fh.write(whole[1][half:])
        wait_for(lambda: len(svc.filed()) == 2 and not inbox_files(settings), what="both filed")
    shas = {json.loads(p.with_suffix(".json").read_text())["source"]["sha256"] for p in svc.filed()}
    assert shas == {__import__("hashlib").sha256(d).hexdigest() for d in whole}
    assert not (settings.archive / "_quarantine").exists()
    assert len(svc.journal_rows("SELECT id FROM files")) == 2


def test_bad_input_beside_good_each_with_its_reason(settings: Settings, tmp_path: Path) -> None:
    settings = replace(settings, incomplete_timeout=1.5)
    outside = tmp_path / "outside.png"
    write_png(outside, "DN-OUT")
    with Running(settings) as svc:
        write_png(settings.inbox / "good.png", "DN-1")
        write_png(settings.inbox / "crash.png", "CRASH")  # kills its reading process, every time
        (settings.inbox / "notes.png").write_text("not an image")
        (settings.inbox / "empty.png").write_bytes(b"")  # young: waits, maybe it is being written
        (settings.inbox / "link.png").symlink_to(outside)
        for name in (".hidden.png", "x.png.part", "Thumbs.db", "~$lock.png"):
            write_png(settings.inbox / name, "DN-IGNORED", seed=9)
        (settings.inbox / "@eaDir").mkdir()
        write_png(settings.inbox / "@eaDir" / "thumb.png", "DN-IGNORED", seed=9)
        wait_for(lambda: len(list(settings.quarantine.glob("*/*.reason.json"))) == 4, timeout=60, what="4 quarantined")
        wait_for(lambda: len(svc.filed()) == 1)
    reasons = {
        p.name.removesuffix(".reason.json"): json.loads(p.read_text())["code"]
        for p in settings.quarantine.glob("*/*.reason.json")
    }
    assert reasons == {
        "crash.png": "unreadable.reader_failed",
        "notes.png": "bad_input.unsupported_type",
        "empty.png": "bad_input.zero_bytes",
        "link.png": "bad_input.symlink",
    }
    assert outside.exists()
    assert inbox_files(settings) == sorted([".hidden.png", "@eaDir/thumb.png", "Thumbs.db", "x.png.part", "~$lock.png"])
    st = build_status(settings)
    assert st["quarantined"]["today"] == 4 and st["filed_today"] == {"files": 1, "sheets": 1}
    assert st["last_error"] is not None and st["service"]["running"] is False


def test_the_same_content_twice_at_once_is_filed_once(settings: Settings) -> None:
    with Running(settings) as svc:
        write_tiff(settings.inbox / "a" / "batch.tif", ["DN-1", "DN-2"])
        shutil.copy(settings.inbox / "a" / "batch.tif", settings.inbox / "batch-copy.tif")
        wait_for(lambda: not inbox_files(settings), what="inbox empty")
    assert [p.name for p in svc.filed()] == ["DN-1.pdf", "DN-2.pdf"]
    assert sorted(o.event for o in svc.outcomes) == ["duplicate", "filed"]
    (record,) = settings.archive.glob("_duplicates/*/*.duplicate.json")
    assert json.loads(record.read_text())["of"] == "Acme-Freight/2025/03/DN-1.pdf"


def test_stopping_rolls_back_what_is_being_read(settings: Settings) -> None:
    """SIGTERM's path: a file in the middle of a long read is left in the inbox, untouched, at once."""
    with Running(settings) as svc:
        write_png(settings.inbox / "slow.png", "SLOW:60:DN-1")
        wait_for(lambda: svc.journal_rows("SELECT id FROM files WHERE state = 'reading'"), what="reading")
        took = svc.stop()
    assert took < 10
    assert inbox_files(settings) == ["slow.png"] and svc.filed() == []
    assert svc.journal_rows("SELECT state FROM files") == [("released",)]
    assert build_status(settings)["waiting"] == 1


def test_files_are_found_by_the_rescan_when_events_get_lost(settings: Settings) -> None:
    # Polling so slow it never polls: only the periodic rescan can find the files.
    settings = replace(settings, poll=3600.0, rescan_interval=0.5)
    with Running(settings) as svc:
        write_png(settings.inbox / "deep" / "er" / "a.png", "DN-1")
        wait_for(lambda: len(svc.filed()) == 1, what="found by rescan")


def test_polling_finds_files_without_file_events(settings: Settings) -> None:
    # SMB/NFS: the polling observer alone (the rescan is an hour away), links still not followed.
    settings = replace(settings, poll=0.2)
    with Running(settings) as svc:
        from watchdog.observers.polling import PollingObserverVFS

        assert isinstance(svc.service.watcher._observer, PollingObserverVFS)
        write_png(settings.inbox / "share" / "a.png", "DN-1")
        wait_for(lambda: len(svc.filed()) == 1, what="found by polling")


def test_a_second_service_on_the_same_archive_refuses(settings: Settings) -> None:
    with Running(settings):
        with pytest.raises(ArchiveUnwritable, match="already working"):
            WatchService(settings, reader=fake_reader, engine=FakeEngine()).run()


def test_an_unwritable_archive_keeps_the_scan_logs_once_and_retries(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(loop_module, "BACKOFF", (0.3, 0.6))
    blocker = settings.archive / "Acme-Freight"
    settings.archive.mkdir()
    blocker.write_text("in the way")
    caplog.set_level(logging.DEBUG, logger="pipeline.service")
    with Running(settings) as svc:
        write_png(settings.inbox / "a.png", "DN-1")
        wait_for(lambda: len([r for r in caplog.records if r.levelno == logging.DEBUG and "stays in the inbox" in r.message]) >= 2, what="retries")
        assert inbox_files(settings) == ["a.png"]
        blocker.unlink()
        wait_for(lambda: len(svc.filed()) == 1 and not inbox_files(settings), what="filed after the retry")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "stays in the inbox" in errors[0].message


def test_once_files_what_is_there_and_returns(settings: Settings) -> None:
    write_png(settings.inbox / "a.png", "DN-1")
    write_tiff(settings.inbox / "sub" / "b.tif", ["DN-2", "DN-3"])
    (settings.inbox / "bad.png").write_text("nope")
    summary = WatchService(settings, once=True, reader=fake_reader, engine=FakeEngine()).run()
    assert (summary.filed, summary.sheets, summary.quarantined) == (2, 3, 1)
    assert inbox_files(settings) == []
    assert sha256_file  # the same helper the service hashes with
    assert os.listdir(settings.archive / "_state")


def test_names_in_any_script_or_bytes_a_file_system_dislikes(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """Names that are not UTF-8, or hold a newline or control characters, are filed or quarantined
    like any other; each outcome is still one log line and the reason file is valid JSON."""
    good = os.fsdecode(b"scan \xff\xfe\n2.png")
    bad = os.fsdecode(b"bad\x01\x1b[31m \xe9.png")
    caplog.set_level(logging.INFO, logger="pipeline.service")
    with Running(settings) as svc:
        write_png(settings.inbox / "送货单 åäö" / good, "DN-1")
        (settings.inbox / bad).write_text("not an image")
        (settings.inbox / "CON.png").write_text("not an image either")
        wait_for(lambda: len(svc.filed()) == 1 and not inbox_files(settings), what="both dealt with")
    reasons = sorted(settings.quarantine.glob("*/*.reason.json"))
    assert len(reasons) == 2
    for path in reasons:
        record = json.loads(path.read_bytes())
        assert record["code"] == "bad_input.unsupported_type"
        assert path.name.isprintable() and "\x1b" not in path.name
    lines = [r.getMessage() for r in caplog.records if r.name == "pipeline.service.loop" and r.levelno >= logging.INFO]
    outcome_lines = [m for m in lines if m.startswith(("filed", "quarantined"))]
    assert len(outcome_lines) == 3 and all("\n" not in m and "\x1b" not in m for m in outcome_lines)


# -- index commits in batches -------------------------------------------------------------------------


@pytest.fixture
def adds(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> list[tuple[int, list[str]]]:
    """Each add to the index: (sidecars in it, inbox files still there at that moment)."""
    calls: list[tuple[int, list[str]]] = []
    add = IndexStore.add

    def spy(self, sidecars):  # noqa: ANN001, ANN202
        sidecars = list(sidecars)
        calls.append((len(sidecars), inbox_files(settings)))
        return add(self, sidecars)

    monkeypatch.setattr(IndexStore, "add", spy)
    return calls


def test_files_filed_while_another_is_read_wait_for_it_then_go_in_one_commit(
    settings: Settings, adds: list[tuple[int, list[str]]]
) -> None:
    """GIVEN the service reading a slow scan
    WHEN two more scans (three sheets) arrive and are filed meanwhile
    THEN they wait in the inbox (in flight for `status`, not searchable, not reported) until the
    slow one is filed too; then the service, idle, commits all four sheets at once, long before
    BATCH_SECONDS, and only after that do the originals leave and the outcomes come."""
    with Running(settings) as svc:
        write_png(settings.inbox / "slow.png", "SLOW:6:DN-9")
        write_png(settings.inbox / "a.png", "DN-1")
        write_tiff(settings.inbox / "b.tif", ["DN-2", "DN-3"])
        wait_for(lambda: svc.service.writer.pending == 2, what="a and b filed, waiting for the commit")
        time.sleep(0.5)
        assert adds == [] and svc.outcomes == [] and inbox_files(settings) == ["a.png", "b.tif", "slow.png"]
        st = build_status(settings)
        assert (st["waiting"], st["in_flight"], st["in_flight_by_state"]) == (0, 3, {"filing": 2, "reading": 1})
        wait_for(lambda: len(svc.outcomes) == 3, timeout=20, what="all three committed once idle")
    assert adds == [(4, ["a.png", "b.tif", "slow.png"])]
    assert sorted((o.event, o.name) for o in svc.outcomes) == [("filed", "a.png"), ("filed", "b.tif"), ("filed", "slow.png")]
    assert inbox_files(settings) == []


def test_a_batch_of_batch_sheets_is_committed_while_other_files_are_still_read(
    settings: Settings, adds: list[tuple[int, list[str]]]
) -> None:
    """GIVEN the service reading a slow scan
    WHEN two batches of BATCH_SHEETS sheets between them are filed meanwhile
    THEN those are committed in one add as soon as the second is filed, without waiting for the
    slow one or for BATCH_SECONDS."""
    from pipeline.run import BATCH_SHEETS

    with Running(settings) as svc:
        write_png(settings.inbox / "slow.png", "SLOW:60:DN-9")
        write_tiff(settings.inbox / "a.tif", [f"DN-A{i}" for i in range(BATCH_SHEETS - 20)])
        write_tiff(settings.inbox / "b.tif", [f"DN-B{i}" for i in range(20)])
        wait_for(lambda: len(svc.outcomes) == 2, timeout=20, what="the full batch committed")
        assert adds == [(BATCH_SHEETS, ["a.tif", "b.tif", "slow.png"])]
        assert inbox_files(settings) == ["slow.png"]


def test_stopping_commits_what_waits_in_the_batch(settings: Settings, adds: list[tuple[int, list[str]]]) -> None:
    """SIGTERM's path: scans filed while another is read are committed and leave the inbox; the
    one being read stays."""
    with Running(settings) as svc:
        write_png(settings.inbox / "slow.png", "SLOW:60:DN-9")
        write_png(settings.inbox / "a.png", "DN-1")
        write_tiff(settings.inbox / "b.tif", ["DN-2", "DN-3"])
        wait_for(lambda: svc.service.writer.pending == 2, what="a and b filed, waiting for the commit")
        assert adds == [] and svc.outcomes == []
        svc.stop()
    assert adds == [(3, ["a.png", "b.tif", "slow.png"])]
    assert sorted((o.event, o.name) for o in svc.outcomes) == [("filed", "a.png"), ("filed", "b.tif")]
    assert inbox_files(settings) == ["slow.png"]
    assert sorted(svc.journal_rows("SELECT name, state FROM files")) == [
        ("a.png", "filed"), ("b.tif", "filed"), ("slow.png", "released")
    ]


def test_once_commits_what_it_filed_in_one_batch_before_it_returns(
    settings: Settings, adds: list[tuple[int, list[str]]]
) -> None:
    write_png(settings.inbox / "a.png", "DN-1")
    write_tiff(settings.inbox / "b.tif", ["DN-2", "DN-3"])
    summary = WatchService(settings, once=True, reader=fake_reader, engine=FakeEngine()).run()
    assert (summary.filed, summary.sheets) == (2, 3)
    assert adds == [(3, ["a.png", "b.tif"])]
    assert inbox_files(settings) == []


def test_a_copy_of_a_scan_waiting_for_the_commit_is_not_taken_until_it_is_made(settings: Settings) -> None:
    """Taking the copy would resume the waiting scan's journal row: both would be "filed". It
    waits instead, and once the scan is committed it is set aside as its duplicate."""
    with Running(settings) as svc:
        write_png(settings.inbox / "slow.png", "SLOW:60:DN-9")
        write_png(settings.inbox / "a.png", "DN-1")
        wait_for(lambda: svc.service.writer.pending == 1, what="a filed, waiting for the commit")
        shutil.copy(settings.inbox / "a.png", settings.inbox / "a-copy.png")
        time.sleep(1.5)  # settled several times over
    assert [(o.event, o.name) for o in svc.outcomes] == [("filed", "a.png")]
    assert inbox_files(settings) == ["a-copy.png", "slow.png"]
    (settings.inbox / "slow.png").unlink()
    summary = WatchService(settings, once=True, reader=fake_reader, engine=FakeEngine()).run()
    assert [(o.event, o.name, o.of) for o in summary.outcomes] == [
        ("duplicate", "a-copy.png", "Acme-Freight/2025/03/DN-1.pdf")
    ]


@pytest.mark.parametrize("error", [IndexLocked("the search index is locked"), RuntimeError("a bug in indexing")])
def test_a_commit_the_index_refuses_waits_and_is_tried_again(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    """The scan stays in the inbox, filed but not reported, while the index refuses its batch;
    the next commit makes it searchable and lets it go, without reading it again."""
    monkeypatch.setattr(loop_module, "BACKOFF", (0.5, 0.5))
    add, refused = IndexStore.add, []

    def refuse_once(self, sidecars):  # noqa: ANN001, ANN202
        if not refused:
            refused.append(inbox_files(settings))
            raise error
        return add(self, sidecars)

    monkeypatch.setattr(IndexStore, "add", refuse_once)
    with Running(settings) as svc:
        write_png(settings.inbox / "a.png", "DN-1")
        wait_for(lambda: refused, what="the first commit")
        assert svc.outcomes == [] and inbox_files(settings) == ["a.png"]
        wait_for(lambda: svc.outcomes, what="the commit tried again")
    assert refused == [["a.png"]] and inbox_files(settings) == []
    # Not read and filed again: that would make its sheet a "duplicate" of itself.
    assert [(o.event, o.name, [f.outcome for f in o.filed]) for o in svc.outcomes] == [("filed", "a.png", ["filed"])]
    assert str(error) in build_status(settings)["last_error"]["message"]
