"""Helpers for the celery executor's end-to-end tests: a real Redis on loopback, `signoff worker` processes, killing a process tree.

The Redis is pipeline.service.local_redis's (scripts/bench_celery.py starts it too).

Nothing here imports pytest: the reading processes of a stand-in worker import this module.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from pipeline.document import FieldResult, FieldStatus, Page
from pipeline.errors import BadInput, ReasonCode
from pipeline.ingest import SourceFile
from pipeline.proctree import descendants, parents, process_name
from pipeline.reader import PageResult
from pipeline.service.local_redis import RedisServer
from pipeline.service.reading import Read
from pipeline.settings import Settings

__all__ = ["RedisServer", "Worker", "celery_config", "descendants", "kill_tree", "png_pages", "slow_tiff_pages"]

ROOT = Path(__file__).resolve().parents[2]


def celery_config(url: str, worker_timeout: float = 4.0) -> str:
    """Lines to add to a test's signoff.toml: the celery executor on this Redis, a short heartbeat timeout."""
    return f'executor = "celery"\nbroker = "{url}"\nworker_timeout = {worker_timeout}\n'


class Worker:
    """`signoff worker` (or a stand-in started through the same serve()) in its own session, logging to a file."""

    def __init__(self, root: Path, *args: str, argv: list[str] | None = None) -> None:
        self.root = root
        self.log = root / f"worker-{time.monotonic_ns()}.log"
        self._fh = self.log.open("wb")
        cmd = argv or [sys.executable, "-m", "pipeline", "-vv", "worker", "--log-json", "--concurrency", "1", *args]
        self.proc = subprocess.Popen(
            cmd,
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=self._fh,
            start_new_session=True,  # its own process group, as under systemd
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def readers(self) -> list[int]:
        """Its reading processes' pids (not multiprocessing's resource tracker beside them)."""
        return [pid for pid, ppid in parents().items() if ppid == self.proc.pid and process_name(pid) == "reader"]

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._fh.close()
        return code


def kill_tree(pid: int) -> list[int]:
    """SIGKILL a process and everything under it at once, as a lost machine would: nobody cleans up."""
    victims = [pid, *descendants(pid)]
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return victims


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


# -- a stand-in reader for `signoff worker`: small PNGs that say what is on them (no tesseract) ----------
class PngPages:
    """Reads a PNG whose "dns" text is its delivery number; "CRASH" kills the reading process, every time."""

    def __call__(self, path: Path) -> Read:
        raise AssertionError("the celery executor reads page by page")

    def open(self, path: Path) -> SourceFile:
        data = path.read_bytes()
        if not data.startswith(b"\x89PNG"):
            raise BadInput(f"{path.name} is not a PNG", reason=ReasonCode.UNSUPPORTED, stage="ingest")
        return SourceFile(path=path, kind="png", sha256=hashlib.sha256(data).hexdigest(), page_count=1, dpi=300)

    def page(self, source: SourceFile, number: int) -> PageResult:
        with Image.open(source.path) as img:
            text = str(img.info.get("dns", ""))
        if text == "CRASH":
            os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would: no word to anyone
        fields = {"customer": FieldResult(FieldStatus.OK, "Acme Freight"), "time": FieldResult(FieldStatus.OK, "2025-03-14T10:30")}
        return PageResult(Page(number, text=f"read by {os.getpid()}"), kind="signoff", delivery_number=text, dn_source="barcode", fields=fields)


class SlowTiffPages(PngPages):
    """Reads a multi-page TIFF whose description lists its delivery numbers, a page per PAGE_SECONDS
    (asleep: no CPU), so a test can act while a page is being read."""

    PAGE_SECONDS = 1.5

    def open(self, path: Path) -> SourceFile:
        data = path.read_bytes()
        with Image.open(path) as img:
            if img.format != "TIFF":
                raise BadInput(f"{path.name} is not a TIFF", reason=ReasonCode.UNSUPPORTED, stage="ingest")
            pages = int(getattr(img, "n_frames", 1))
        return SourceFile(path=path, kind="tiff", sha256=hashlib.sha256(data).hexdigest(), page_count=pages, dpi=100)

    def page(self, source: SourceFile, number: int) -> PageResult:
        with Image.open(source.path) as img:
            dns = str(img.tag_v2.get(270, "")).split(",")  # ImageDescription
        time.sleep(self.PAGE_SECONDS)
        fields = {"customer": FieldResult(FieldStatus.OK, "Acme Freight"), "time": FieldResult(FieldStatus.OK, "2025-03-14T10:30")}
        page = Page(number, text=f"read by {os.getpid()}")
        return PageResult(page, kind="signoff", delivery_number=dns[number - 1], dn_source="barcode", fields=fields)


def png_pages(settings: Settings) -> PngPages:
    return PngPages()


def slow_tiff_pages(settings: Settings) -> SlowTiffPages:
    return SlowTiffPages()


def serve_png_pages(factory: str = "png_pages", level: int = 20) -> None:
    """`signoff worker --concurrency 1`, reading with PngPages, or the stand-in named, logging from
    ``level`` (10: DEBUG, which says when each page begins) (run with ``python -c`` in the test's folder)."""
    import logging

    from pipeline.service.celery_worker import serve
    from pipeline.service.logs import configure_logging
    from pipeline.settings import load_settings

    configure_logging(level, json_lines=True)
    sys.exit(serve(load_settings(), 1, factory=globals()[factory], log_level=level, log_json=True))
