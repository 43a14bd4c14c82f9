"""Tesseract runs single-threaded unless the operator sets OMP_THREAD_LIMIT."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import os, pipeline.ocr.tesseract; print(os.environ['OMP_THREAD_LIMIT'])"


@pytest.mark.parametrize(("given", "expected"), [(None, "1"), ("2", "2")])
def test_tesseract_gets_one_thread_unless_told_otherwise(given: str | None, expected: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    if given is not None:
        env["OMP_THREAD_LIMIT"] = given
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
