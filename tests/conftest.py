"""Shared fixtures: a tmp inbox/archive, a clean environment, the --runslow gate."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import timing


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run the end-to-end tests (real tesseract)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="end-to-end: needs --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SIGNOFF_* setting from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("SIGNOFF_"):
            monkeypatch.delenv(key)


@dataclass(frozen=True)
class Dirs:
    root: Path
    inbox: Path
    archive: Path

    @property
    def quarantine(self) -> Path:
        return self.archive / "_quarantine"


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dirs:
    d = Dirs(tmp_path, tmp_path / "inbox", tmp_path / "archive")
    d.inbox.mkdir()
    d.archive.mkdir()
    monkeypatch.chdir(tmp_path)
    return d


needs_tesseract = pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")


@pytest.fixture
def timed() -> Iterator[None]:
    """Timing on for one test, with no totals before or after it."""
    was = timing.enabled()
    timing.reset()
    timing.enable()
    yield
    timing.reset()
    if not was:
        timing.disable()
