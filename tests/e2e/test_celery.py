"""The celery executor, end to end: a real Redis on loopback, `signoff worker` processes, `signoff watch` filing.

Real tesseract on small English sheets at 200 dpi (a page in a few seconds here), except the
poisoned-file test, whose workers read with a stand-in that kills its process on one file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import needs_tesseract
from tests.e2e.brokered import RedisServer, Worker, celery_config, kill_tree, wait_for
from tests.e2e.test_first_light import jsonl, signoff
from tests.e2e.watching import CONFIG, Watch, batch_pdf, filed_pdfs, inbox_files, sheet_scan
from tests.unit.service_fakes import write_png, write_tiff

pytestmark = [pytest.mark.slow]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port, killed at the end. Not skipped when missing: CI installs it."""
    try:
        server = RedisServer(tmp_path / "redis")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()


@pytest.fixture
def running() -> Iterator[list[Worker | Watch]]:
    """The workers and services a test starts: whatever still runs at its end (it failed) is killed."""
    procs: list[Worker | Watch] = []
    yield procs
    for p in procs:
        if p.proc.poll() is None:
            kill_tree(p.proc.pid)
            p.proc.wait(10)


def setup_root(root: Path, url: str) -> Path:
    (root / "signoff.toml").write_text(CONFIG + celery_config(url))
    inbox = root / "inbox"
    inbox.mkdir()
    return inbox


def start_workers(
    root: Path, redis_server: RedisServer, running: list[Worker | Watch], n: int, argv: list[str] | None = None
) -> list[Worker]:
    """``n`` workers, each of one reading process; back once each reading process says it lives."""
    workers = [Worker(root, argv=argv) for _ in range(n)]
    running.extend(workers)
    client = redis_server.client()
    try:
        wait_for(lambda: len(client.keys("signoff:worker:*")) >= n or any(w.proc.poll() is not None for w in workers), 90, "the workers' heartbeats")
    finally:
        client.close()
    for w in workers:
        assert w.proc.poll() is None, w.text()
    return workers


def pages_read(worker: Worker) -> list[dict]:
    """The jobs a worker did: its "read X page N in S s" lines (an opened file's is its page 1)."""
    lines = [json.loads(line) for line in worker.text().splitlines() if line.startswith("{")]
    return [x for x in lines if x.get("logger") == "pipeline.service.celery_worker" and x["message"].startswith("read ")]


def journal_files(root: Path) -> list[tuple[str, str]]:
    db = sqlite3.connect(root / "archive" / "_state" / "journal.sqlite")
    try:
        return sorted(db.execute("SELECT name, state FROM files").fetchall())
    finally:
        db.close()


def check_filed_once(root: Path, expected: list[str]) -> None:
    """Every sheet once: one PDF each (no second version), no duplicate set aside, each found once, verify clean."""
    assert sorted(p.stem for p in filed_pdfs(root)) == sorted(expected)
    assert not (root / "archive" / "_duplicates").exists()
    assert not (root / "archive" / "_quarantine").exists()
    proc = signoff("verify", "--json", cwd=root)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr
    hits = jsonl(signoff("search", "--json", "--limit", "50", "version:all", "kind:signoff", cwd=root).stdout)
    assert sorted(h["delivery_number"] for h in hits) == sorted(expected)


@needs_tesseract
def test_two_workers_read_a_batch_that_the_service_files_exactly_once(
    tmp_path: Path, redis_server: RedisServer, running: list[Worker | Watch]
) -> None:
    """GIVEN Redis, two `signoff worker` processes and `signoff watch` with executor = "celery"
    WHEN a batch PDF of four sheets and two single scans are dropped into the inbox
    THEN every sheet is filed exactly once, from the service's journal; both workers read pages;
    `status` shows the executor, the queue and both workers; and says "broker unreachable"
    once Redis is gone, still exiting 0."""
    root = tmp_path
    inbox = setup_root(root, redis_server.url)
    scans = [sheet_scan(seed) for seed in (31, 32, 33, 34, 35, 36)]
    expected = [s.delivery_number for s in scans]
    assert len(set(expected)) == len(expected)
    workers = start_workers(root, redis_server, running, 2)
    watch = Watch(root)
    running.append(watch)
    t0 = time.monotonic()
    (inbox / "depot").mkdir()
    (inbox / "depot" / "batch.pdf").write_bytes(batch_pdf(scans[:4]))
    (inbox / "one.png").write_bytes(scans[4].png)
    (inbox / "two.pdf").write_bytes(scans[5].pdf)
    outcomes = lambda: [x for x in watch.lines() if "event" in x]  # noqa: E731
    watch.wait_for(lambda: len(outcomes()) >= 3 and not inbox_files(root), 150, "three files filed")
    took = time.monotonic() - t0

    st = json.loads(signoff("status", "--json", cwd=root).stdout)
    assert st["executor"] == "celery" and st["broker"]["reachable"] is True
    assert st["queue"] == {"depth": 0}
    assert sorted(w["pid"] for w in st["workers"]) == sorted(pid for w in workers for pid in w.readers())
    assert sum(w["pages"] for w in st["workers"]) == 6
    assert watch.stop() == 0

    assert sorted((x["event"], x["source"]) for x in outcomes()) == [
        ("filed", "depot/batch.pdf"), ("filed", "one.png"), ("filed", "two.pdf")
    ]
    assert journal_files(root) == [("depot/batch.pdf", "filed"), ("one.png", "filed"), ("two.pdf", "filed")]
    check_filed_once(root, expected)
    # Both workers read: the service holds no more than two tasks per worker out, so neither takes all.
    read = [len(pages_read(w)) for w in workers]
    assert all(n >= 1 for n in read) and sum(read) == 6, read  # three files opened (page 1 each), three pages
    print(f"\nsix pages, two workers: filed in {took:.1f} s")

    redis_server.stop()
    proc = signoff("status", cwd=root)
    assert proc.returncode == 0
    assert "broker unreachable" in proc.stdout and "queue        unknown (broker unreachable)" in proc.stdout
    for w in workers:
        w.stop(30)


@needs_tesseract
def test_a_worker_killed_mid_page_costs_a_page_and_every_sheet_is_filed_exactly_once(
    tmp_path: Path, redis_server: RedisServer, running: list[Worker | Watch]
) -> None:
    """GIVEN Redis, two workers and the service, and a batch PDF of six sheets plus a single scan
    WHEN one worker (it, its reading process and their tesseract) is killed with SIGKILL while it
    reads a page, once some pages are read and some are not
    THEN the service sees its heartbeat stop and sends that page to the other worker; every sheet
    is filed exactly once; the killed worker's tasks leave nothing behind in Redis."""
    root = tmp_path
    inbox = setup_root(root, redis_server.url)
    scans = [sheet_scan(seed) for seed in range(41, 48)]
    expected = [s.delivery_number for s in scans]
    assert len(set(expected)) == len(expected)
    victim, survivor = start_workers(root, redis_server, running, 2)
    watch = Watch(root)
    running.append(watch)
    t0 = time.monotonic()
    (inbox / "batch.pdf").write_bytes(batch_pdf(scans[:6]))
    (inbox / "single.png").write_bytes(scans[6].png)

    def mid_page() -> bool:
        """The victim began a page after some pages were read, and has not finished it."""
        lines = [json.loads(x) for x in victim.text().splitlines() if x.startswith("{")]
        ours = [x for x in lines if x.get("logger") == "pipeline.service.celery_worker" and "page" in x]
        done = len(pages_read(victim)) + len(pages_read(survivor))
        return bool(ours) and ours[-1]["message"].startswith("reading ") and done >= 2

    watch.wait_for(mid_page, 120, "the victim to be reading a page", every=0.02)
    reading = [json.loads(x) for x in victim.text().splitlines() if x.startswith("{")][-1]
    kill_tree(victim.proc.pid)
    victim.proc.wait(10)
    watch.wait_for(lambda: len([x for x in watch.lines() if "event" in x]) >= 2 and not inbox_files(root), 150, "both files filed")
    took = time.monotonic() - t0
    assert watch.stop() == 0

    events = sorted((x["event"], x["source"]) for x in watch.lines() if "event" in x)
    assert events == [("filed", "batch.pdf"), ("filed", "single.png")]
    assert journal_files(root) == [("batch.pdf", "filed"), ("single.png", "filed")]
    check_filed_once(root, expected)
    finished = [x for x in pages_read(victim) if x.get("page") == reading.get("page") and x.get("source") == reading.get("source")]
    if not finished:  # it was killed mid-page (the usual case): that page was sent again
        resent = [x["message"] for x in watch.lines(strict=False) if "is gone; sent to another worker" in x.get("message", "")]
        assert resent, watch.log.read_text()
    client = redis_server.client()
    try:
        assert client.keys("celery-task-meta-*") == [] and client.hlen("signoff:jobs") == 0
    finally:
        client.close()
    survivor.stop(30)
    print(f"\nseven pages, a worker killed mid-page: filed in {took:.1f} s")


def test_a_file_that_kills_every_worker_that_reads_it_is_quarantined_and_the_rest_filed(
    tmp_path: Path, redis_server: RedisServer, running: list[Worker | Watch]
) -> None:
    """GIVEN the service and two workers reading with a stand-in that dies on one file (as a
    segfault or the OOM killer would), restarted each time by `signoff worker`
    WHEN that file and a good one are dropped
    THEN the good one is filed; the poisoned one is sent to a worker a few times, read once more,
    and quarantined with the reason, not sent forever; the workers are still there after."""
    root = tmp_path
    inbox = setup_root(root, redis_server.url)
    (root / "signoff.toml").write_text(CONFIG + celery_config(redis_server.url, worker_timeout=2.0))  # deaths seen sooner
    argv = [sys.executable, "-c", "from tests.e2e.brokered import serve_png_pages; serve_png_pages()"]
    workers = start_workers(root, redis_server, running, 2, argv=argv)
    watch = Watch(root)
    running.append(watch)
    t0 = time.monotonic()
    write_png(inbox / "good.png", "DN-GOOD", seed=1)
    write_png(inbox / "poison.png", "CRASH", seed=2)
    outcomes = lambda: [x for x in watch.lines() if "event" in x]  # noqa: E731
    watch.wait_for(lambda: len(outcomes()) >= 2, 150, "both files dealt with", every=0.2)
    took = time.monotonic() - t0
    events = {x["source"]: x for x in outcomes()}
    assert events["good.png"]["event"] == "filed"
    assert events["poison.png"]["event"] == "quarantined" and events["poison.png"]["reason"] == "unreadable.reader_failed"
    assert "died" in events["poison.png"]["message"]
    (reason,) = (root / "archive" / "_quarantine").glob("*/poison.png.reason.json")
    assert json.loads(reason.read_text())["code"] == "unreadable.reader_failed"
    # Sent 3 times, read once more by the loop and sent 3 times again: six deaths, no more.
    deaths = sum(w.text().count("died (exit code -9)") for w in workers)
    assert deaths == 6, [w.text() for w in workers]
    def status() -> dict:
        return json.loads(signoff("status", "--json", cwd=root).stdout)

    wait_for(lambda: len(status()["workers"]) == 2, 60, "two workers again (each restarted after its deaths)")
    assert status()["last_error"]["source"] == "poison.png"
    assert watch.stop() == 0
    for w in workers:
        assert w.stop(30) == 0
    print(f"\na poisoned file quarantined after {took:.1f} s")


def test_redis_killed_and_started_again_empty_mid_page_costs_the_pages_in_flight_not_the_file(
    tmp_path: Path, redis_server: RedisServer, running: list[Worker | Watch]
) -> None:
    """GIVEN the service and two workers reading an 8-page batch, a page every 1.5 s (a stand-in reader)
    WHEN redis-server is killed (SIGKILL) while a page past the third is read, that page is finished
    while Redis is down, and a new, empty redis-server is started on the same port
    THEN the service sends again the pages that were in flight or waiting in the lost queue, and
    only those: the file is opened once, nothing is quarantined, every sheet is filed exactly once."""
    root = tmp_path
    inbox = setup_root(root, redis_server.url)
    argv = [sys.executable, "-c", "from tests.e2e.brokered import serve_png_pages; serve_png_pages('slow_tiff_pages', 10)"]
    workers = start_workers(root, redis_server, running, 2, argv=argv)
    watch = Watch(root)
    running.append(watch)
    expected = [f"DN-R{i}" for i in range(1, 9)]
    t0 = time.monotonic()
    write_tiff(inbox / "batch.tif", expected)

    def ours(w: Worker) -> list[dict]:
        lines = [json.loads(x) for x in w.text().splitlines() if x.startswith("{")]
        return [x for x in lines if x.get("logger") == "pipeline.service.celery_worker" and "page" in x]

    def mid_page() -> tuple[Worker, dict] | None:
        """A worker began a page past the third and has not finished it."""
        for w in workers:
            lines = ours(w)
            if lines and lines[-1]["message"].startswith("reading ") and lines[-1]["page"] >= 4:
                return w, lines[-1]
        return None

    reader, reading = watch.wait_for(mid_page, 60, "a worker to be reading page 4 or later", every=0.02)
    redis_server.stop()  # SIGKILL: nothing saved (no persistence anyway)
    done = lambda: any(x["message"].startswith("read ") and x["page"] == reading["page"] for x in ours(reader))  # noqa: E731
    wait_for(done, 10, "the page in hand to be read while Redis is down", every=0.05)
    down = time.monotonic()
    again = RedisServer(root / "redis", port=redis_server.port)  # the same port, empty
    try:
        back = time.monotonic()
        outcomes = lambda: [x for x in watch.lines() if "event" in x]  # noqa: E731
        watch.wait_for(lambda: outcomes() and not inbox_files(root), 60, "the batch filed", every=0.2)
        took = time.monotonic() - t0
        client = again.client()
        try:  # what the lost tasks' workers stored once Redis was back (a failure, or a page) is deleted
            wait_for(lambda: client.keys("celery-task-meta-*") == [] and client.hlen("signoff:jobs") == 0, 20, "no result left")
        finally:
            client.close()
        assert watch.stop() == 0
        assert [(x["event"], x["source"]) for x in outcomes()] == [("filed", "batch.tif")], outcomes()
        assert journal_files(root) == [("batch.tif", "filed")]
        check_filed_once(root, expected)
        log = watch.log.read_text()
        assert "reading it once more" not in log and "quarantined" not in log, log
        opened = [x for w in workers for x in ours(w) if x["message"].startswith("read ") and "opening" in x["message"]]
        assert len(opened) == 1, opened  # not read from scratch again
        assert "the broker lost" in log, log  # it noticed the tasks lost with Redis's data
        for w in workers:
            assert w.stop(30) == 0
    finally:
        again.stop()
    print(f"\n8 pages, Redis killed mid-page and started again empty ({back - down:.1f} s down): filed in {took:.1f} s")


def test_the_pool_sends_again_what_the_broker_lost_or_failed_without_counting_it_against_the_page(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """GIVEN the celery executor's pool (the service's side) on a real Redis, no worker, a file given to it
    WHEN its task comes back failed with redis-py's ConnectionError (a worker could not store what it
    read), or Redis loses its data (flushed, as a restart without persistence would)
    THEN the task is sent again under a new id each time, not counted as a worker's death; only after
    LOSSES such losses is the file Crashed; a failure of any other kind is the file's at once."""
    import redis
    from celery import states

    from pipeline.service.celery_pool import LOSSES, CeleryPool
    from pipeline.service.reading import Crashed
    from pipeline.settings import load_settings

    root = tmp_path
    inbox = setup_root(root, redis_server.url)
    write_png(inbox / "a.png", "DN-1")
    write_png(inbox / "b.png", "DN-2", seed=1)
    pool = CeleryPool(load_settings(root / "signoff.toml", env={}, cwd=root))
    client = redis_server.client()
    try:
        def out_now() -> tuple:
            (task_id, job), = pool._jobs.items()
            return task_id, job

        pool.submit(1, inbox / "a.png")
        first, job = out_now()
        pool.backend.store_result(first, redis.ConnectionError("Connection closed by server."), states.FAILURE)
        assert pool.wait(0.01) == []
        second, job = out_now()
        assert second != first and (job.lost, job.deliveries) == (1, 0)
        assert client.get(f"celery-task-meta-{first}") is None  # taken and deleted
        assert client.hexists("signoff:jobs", second) and not client.hexists("signoff:jobs", first)

        client.flushall()  # what a restart without persistence leaves
        assert pool.wait(0.01) == []
        third, job = out_now()
        assert third not in (first, second) and (job.lost, job.deliveries) == (2, 0)
        assert client.llen("signoff") == 1 and client.hexists("signoff:jobs", third)

        ended: list = []
        for _ in range(LOSSES):
            task_id, _job = out_now()
            pool.backend.store_result(task_id, redis.TimeoutError("Timeout reading from socket"), states.FAILURE)
            ended = pool.wait(0.01)
            if ended:
                break
        ((task, result),) = ended
        assert task == 1 and isinstance(result, Crashed) and "broker" in result.message, result
        assert pool._jobs == {}

        pool.submit(2, inbox / "b.png")
        task_id, _job = out_now()
        pool.backend.store_result(task_id, ValueError("a bug"), states.FAILURE)
        ((task, result),) = pool.wait(0.01)
        assert task == 2 and isinstance(result, Crashed) and "ValueError: a bug" in result.message, result
    finally:
        client.close()
        pool.close()


def test_without_the_celery_extra_the_celery_executor_says_how_to_install_it(tmp_path: Path) -> None:
    """GIVEN executor = "celery" but no celery installed (hidden from the process)
    THEN `watch` and `worker` exit 3 with one line naming the extra; other commands work."""
    root = tmp_path
    setup_root(root, "redis://127.0.0.1:1/0")
    hide = "import sys; sys.modules['celery'] = None; from pipeline.cli import main; sys.argv[0] = 'signoff'; main()"
    for args in (["watch", "--once"], ["worker"]):
        proc = signoff_without_celery(hide, args, root)
        assert proc.returncode == 3, proc.stderr
        (line,) = [x for x in proc.stderr.splitlines() if x.startswith("signoff: error:")]
        assert "pip install 'signoff[celery]'" in line
    proc = signoff_without_celery(hide, ["status"], root)
    assert proc.returncode == 0 and "pip install 'signoff[celery]'" in proc.stdout


def signoff_without_celery(code: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )


def test_signoff_worker_without_a_broker_or_with_one_down_exits_with_one_line(tmp_path: Path) -> None:
    root = tmp_path
    (root / "inbox").mkdir()
    (root / "signoff.toml").write_text('languages = ["eng"]\n')
    proc = signoff("worker", cwd=root)
    assert proc.returncode == 2 and proc.stderr.strip().startswith("signoff: error: signoff worker needs the broker")
    (root / "signoff.toml").write_text('languages = ["eng"]\nbroker = "redis://127.0.0.1:1/0"\n')
    proc = signoff("worker", cwd=root)
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("signoff: error: the broker redis://127.0.0.1:1/0 does not answer")
    proc = signoff("watch", "--once", "--executor", "celery", "--broker", "redis://127.0.0.1:1/0", cwd=root)
    assert proc.returncode == 3 and "does not answer" in proc.stderr
