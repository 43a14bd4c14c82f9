"""Helpers for running the real `signoff watch` in a subprocess: the process, its inbox and archive.

Shared by the watch service's end-to-end tests and `scripts/bench_watch.py`; nothing here imports
pytest. Its memory and CPU time: pipeline.proctree.
"""

from __future__ import annotations

import io
import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.samples import degrade, random_sheet, render_sheet

__all__ = [
    "CONFIG",
    "Scan",
    "Watch",
    "batch_pdf",
    "filed_pdfs",
    "inbox_files",
    "sheet_scan",
]

# Short delays so a test does not wait out the service's production defaults.
CONFIG = """\
languages = ["eng"]
settle = 1.0
rescan_interval = 2.0
incomplete_timeout = 6.0
workers = 2
"""


@dataclass(frozen=True)
class Scan:
    delivery_number: str
    png: bytes
    pdf: bytes


def sheet_scan(seed: int) -> Scan:
    """One generated sign-off sheet (English, signed, 200 dpi grey), as a PNG and as a one-page PDF."""
    rng = random.Random(seed)
    sheet = random_sheet(rng, language="en", layout="left", signed=True, time_style="printed")
    page = degrade(render_sheet(sheet, dpi=200, rng=rng)[0], rng).convert("L")
    png, pdf = io.BytesIO(), io.BytesIO()
    page.save(png, format="PNG", dpi=(200, 200))
    page.save(pdf, format="PDF", resolution=200)
    return Scan(sheet.delivery_number, png.getvalue(), pdf.getvalue())


def batch_pdf(scans: list[Scan]) -> bytes:
    """One PDF with a page per sheet: a batch from the feeder."""
    import pikepdf

    out = pikepdf.new()
    for s in scans:
        with pikepdf.open(io.BytesIO(s.pdf)) as one:
            out.pages.extend(one.pages)
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


class Watch:
    """`signoff watch --log-json` in its own process, as systemd would run it."""

    def __init__(self, root: Path, *args: str) -> None:
        self.root = root
        self.log = root / f"watch-{time.monotonic_ns()}.log"
        self._fh = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline", "watch", "--log-json", *args],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=self._fh,
        )
        self.wait_for(lambda: "watching" in self.log.read_text(errors="replace"), 60, "the watcher to start")

    def lines(self, *, strict: bool = True) -> list[dict[str, Any]]:
        """The log's JSON lines; a line that is not JSON fails, unless not strict (then it is skipped)."""
        out = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                if strict:
                    raise AssertionError(f"not a JSON log line: {line!r}") from None
        return out

    def wait_for(self, check: Callable[[], Any], timeout: float, what: str, every: float = 0.1) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = check()
            if value:
                return value
            if self.proc.poll() is not None:
                raise AssertionError(f"signoff watch exited ({self.proc.returncode}):\n{self.log.read_text()}")
            time.sleep(every)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text(errors='replace')[-4000:]}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self._fh.close()
        return code


def filed_pdfs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "archive").rglob("*.pdf") if not p.relative_to(root / "archive").parts[0].startswith("_"))


def inbox_files(root: Path) -> list[str]:
    inbox = root / "inbox"
    return sorted(p.relative_to(inbox).as_posix() for p in inbox.rglob("*") if p.is_file() or p.is_symlink())
