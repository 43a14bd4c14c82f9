"""The drop-folder service behind `signoff watch`, `status` and `verify`: nothing lost, nothing doubled.

::

    watcher.py   which inbox files count, when a file is whole (settle), the watchdog observer
    journal.py   SQLite record of each file taken and each sheet filed: a restart resumes
    reading.py   what every reader pool shares: results, readers, a file's pages grouped into documents
    pool.py      reader processes (a file's pages spread over them, OMP_THREAD_LIMIT=1); they never write
    celery_pool.py    the same on Celery workers anywhere (executor = "celery"); celery_app.py, wire.py
    celery_worker.py  `signoff worker`: the reading processes that take its tasks
    local_redis.py    a throwaway redis-server on loopback, for the celery executor's tests and benchmark
    writer.py    the one writer: archive moves, the index, duplicates, quarantine, recovery
    loop.py      WatchService: the loop tying them together; SIGTERM/Ctrl-C stop it cleanly
    status.py    `signoff status`
    verify.py    `signoff verify`
"""

from __future__ import annotations

from pipeline.service.loop import Summary, WatchService
from pipeline.service.status import build_status, render_status
from pipeline.service.verify import Problem, VerifyReport, verify_archive
from pipeline.service.writer import Outcome

__all__ = [
    "Outcome",
    "Problem",
    "Summary",
    "VerifyReport",
    "WatchService",
    "build_status",
    "render_status",
    "verify_archive",
]
