"""The drop-folder service behind `signoff watch`, `status` and `verify`: nothing lost, nothing doubled.

::

    watcher.py   which inbox files count, when a file is whole (settle), the watchdog observer
    journal.py   SQLite record of each file taken and each sheet filed: a restart resumes
    pool.py      reader processes (a file's pages spread over them, OMP_THREAD_LIMIT=1); they never write
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
