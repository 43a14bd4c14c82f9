"""Mixed sheets: English labels, a Swedish customer name with å, ä and ö, and no customer list."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import pytest

from pipeline.samples import degrade, random_sheet, render_sheet
from tests.conftest import needs_tesseract
from tests.e2e.test_first_light import jsonl, signoff

pytestmark = [pytest.mark.slow, needs_tesseract]

NAMES = ["Älvdalens Trä AB", "Östra Kyl & Frys AB"]


def test_swedish_names_on_english_sheets_keep_their_letters(tmp_path: Path) -> None:
    """GIVEN English sheets for Swedish customers, scanned, and no customer list configured
    WHEN they are inspected
    THEN each customer is read with its å, ä and ö (tesseract reading English first drops them)."""
    rng = random.Random(11)
    for i, name in enumerate(NAMES):
        sheet = dataclasses.replace(random_sheet(rng, language="en"), customer=name)
        (page,) = render_sheet(sheet, dpi=300, rng=random.Random(i))
        degrade(page, random.Random(i), level="mild").save(tmp_path / f"mixed-{i}.png", dpi=(300, 300))
    proc = signoff("inspect", "--json", *(f"mixed-{i}.png" for i in range(len(NAMES))), cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr
    got = {Path(r["source"]).name: r["fields"]["customer"] for r in jsonl(proc.stdout)}
    for i, name in enumerate(NAMES):
        assert got[f"mixed-{i}.png"] == {"status": "ok", "value": name}
