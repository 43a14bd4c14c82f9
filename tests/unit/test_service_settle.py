"""A file is taken once it is whole (settled), in order of arrival, and never queued twice."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.service.watcher import SettleTracker


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t

    def tick(self, seconds: float) -> None:
        self.t += seconds


def tracker(settle: float = 3.0) -> tuple[SettleTracker, Clock]:
    clock = Clock()
    return SettleTracker(settle, clock=clock), clock


def grow(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)
    # Some file systems keep mtime coarse: make each write visible as a change.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


def test_taken_only_after_the_settle_delay(tmp_path: Path) -> None:
    t, clock = tracker()
    f = tmp_path / "a.pdf"
    f.write_bytes(b"%PDF-")
    t.event(f)
    clock.tick(2.9)
    assert t.ready(10) == []
    clock.tick(0.2)
    assert [p for p, _ in t.ready(10)] == [f]


def test_a_file_written_in_pieces_waits_for_the_last_piece(tmp_path: Path) -> None:
    t, clock = tracker()
    f = tmp_path / "a.pdf"
    f.write_bytes(b"%PDF-")
    t.event(f)
    for _ in range(5):
        clock.tick(2.0)
        grow(f, b"more")
        t.event(f)
        assert t.ready(10) == []
    clock.tick(3.0)
    assert [p for p, _ in t.ready(10)] == [f]


def test_a_change_without_an_event_is_noticed_by_size_and_mtime(tmp_path: Path) -> None:
    """A lost event (SMB, NFS): the change is seen when the file is looked at before it is taken."""
    t, clock = tracker()
    f = tmp_path / "a.pdf"
    f.write_bytes(b"%PDF-")
    t.seen(f, f.stat())
    clock.tick(5)
    grow(f, b"more")  # no event
    assert t.ready(10) == []  # looked at, found changed: the delay starts again
    clock.tick(3)
    assert [p for p, _ in t.ready(10)] == [f]


def test_a_taken_file_is_never_queued_twice_whatever_events_arrive(tmp_path: Path) -> None:
    t, clock = tracker()
    f = tmp_path / "a.pdf"
    f.write_bytes(b"%PDF-")
    t.event(f)
    clock.tick(3)
    assert len(t.ready(10)) == 1
    for _ in range(3):
        t.event(f)
        t.seen(f, f.stat())
        clock.tick(10)
        assert t.ready(10) == []
    assert f in t.taken and len(t) == 0


def test_many_events_for_one_file_queue_it_once(tmp_path: Path) -> None:
    t, clock = tracker()
    f = tmp_path / "a.pdf"
    f.write_bytes(b"%PDF-")
    for _ in range(50):
        t.event(f)
        t.seen(f, f.stat())
    clock.tick(3)
    assert [p for p, _ in t.ready(10)] == [f]
    assert t.ready(10) == []


def test_order_of_arrival_and_the_limit(tmp_path: Path) -> None:
    t, clock = tracker()
    files = [tmp_path / f"{i:03}.pdf" for i in range(20)]
    for n, f in enumerate(reversed(files)):  # arrive last-named first
        f.write_bytes(b"%PDF-")
        os.utime(f, ns=(n * 10**9, n * 10**9))
        t.event(f)
    clock.tick(3)
    first = [p for p, _ in t.ready(5)]
    rest = [p for p, _ in t.ready(100)]
    assert first == list(reversed(files))[:5]
    assert rest == list(reversed(files))[5:]


def test_a_newer_file_is_not_held_up_by_an_older_one_still_being_written(tmp_path: Path) -> None:
    t, clock = tracker()
    old, new = tmp_path / "old.pdf", tmp_path / "new.pdf"
    old.write_bytes(b"x")
    t.event(old)
    clock.tick(2)
    new.write_bytes(b"y")
    t.event(new)
    clock.tick(1)
    grow(old, b"more")
    t.event(old)
    clock.tick(2)
    assert [p for p, _ in t.ready(10)] == [new]


def test_a_released_file_waits_for_its_retry_time_unless_it_changes(tmp_path: Path) -> None:
    t, clock = tracker()
    f = tmp_path / "young.pdf"
    f.write_bytes(b"%PDF-half")
    t.event(f)
    clock.tick(3)
    assert len(t.ready(10)) == 1
    t.release(f, after=60)
    clock.tick(30)
    assert t.ready(10) == []
    clock.tick(31)
    assert [p for p, _ in t.ready(10)] == [f]
    # Released again; this time the scanner writes the rest: taken after the settle delay.
    t.release(f, after=60)
    grow(f, b"%%EOF")
    t.event(f)
    clock.tick(3)
    assert [p for p, _ in t.ready(10)] == [f]


def test_deleted_files_are_dropped(tmp_path: Path) -> None:
    t, clock = tracker()
    a, b = tmp_path / "a.pdf", tmp_path / "b.pdf"
    a.write_bytes(b"x")
    b.write_bytes(b"y")
    t.event(a)
    t.event(b)
    a.unlink()
    t.forget(b)
    clock.tick(3)
    assert t.ready(10) == [] and len(t) == 0
    t.event(tmp_path / "never-there.pdf")
    assert len(t) == 0


def test_done_forgets_a_taken_file(tmp_path: Path) -> None:
    t, clock = tracker()
    f = tmp_path / "a.pdf"
    f.write_bytes(b"x")
    t.event(f)
    clock.tick(3)
    t.ready(1)
    t.done(f)
    assert f not in t
    t.event(f)  # the same name again later is a new file
    clock.tick(3)
    assert [p for p, _ in t.ready(1)] == [f]


def test_arrival_is_by_file_time_not_by_when_the_file_was_noticed(tmp_path: Path) -> None:
    """A folder moved in whole is walked; its older files still go before newer ones seen earlier."""
    t, clock = tracker()
    newer, older = tmp_path / "newer.pdf", tmp_path / "older.pdf"
    for f, when in ((newer, 2000), (older, 1000)):
        f.write_bytes(b"%PDF-")
        os.utime(f, (when, when))
    t.event(newer)
    t.seen(older, older.stat())
    clock.tick(3)
    assert [p for p, _ in t.ready(10)] == [older, newer]
