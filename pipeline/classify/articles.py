"""The known article numbers (a CSV with a `sku` column), and the code a read SKU means despite OCR
slips that a 150 dpi scan makes in codes: 5 for S, 0 for O or D, 1 for I or l, an extra letter."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from pipeline.errors import ConfigError

__all__ = ["ArticleList", "load_articles"]

# Characters a scan turns into one another in codes, each group folded to one character.
_LOOKALIKES = {ch: group[0] for group in ("5S", "0OQD", "1IL|", "8B", "2Z", "6G") for ch in group}
# A read code this long at least may differ from a known one by one character more than lookalikes
# (an inserted "R" in "PRK-2040"), if no other known code is as close.
MIN_LOOSE = 5


def _fold(code: str) -> str:
    """A code as compared: upper case, no separators, lookalike characters made one."""
    return "".join(_LOOKALIKES.get(ch, ch) for ch in code.upper() if ch.isalnum())


@dataclass(frozen=True, slots=True)
class ArticleList:
    codes: tuple[str, ...]
    _by_fold: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        by: dict[str, list[str]] = {}
        for code in self.codes:
            by.setdefault(_fold(code), []).append(code)
        self._by_fold.update({k: tuple(v) for k, v in by.items()})

    def known(self, read: str) -> str | None:
        """The one known code `read` is, or None: the same code, the same but for lookalike
        characters and separators ("PT-SL" for PT-5L, "PT5L"), or, for a code of MIN_LOOSE
        characters or more, one character off that (an inserted, dropped or wrong one) when no other
        known code is as close. Never a guess between two: "PT-SL" names nothing when both PT-5L and
        PT-SL are known."""
        if read in self.codes:
            return read
        key = _fold(read)
        same = self._by_fold.get(key, ())
        if len(same) == 1:
            return same[0]
        if same or len(key) < MIN_LOOSE:
            return None
        near = [c for k, cs in self._by_fold.items() if Levenshtein.distance(key, k, score_cutoff=1) <= 1 for c in cs]
        return near[0] if len(near) == 1 else None


def load_articles(path: Path) -> ArticleList:
    """Read an articles CSV with a column `sku` (other columns, a description say, are ignored)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = {f.strip().lower(): f for f in reader.fieldnames or []}
            if "sku" not in fields:
                raise ConfigError(f"{path}: needs a column sku (found {reader.fieldnames})")
            codes = tuple(dict.fromkeys(c for row in reader if (c := (row.get(fields["sku"]) or "").strip())))
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    return ArticleList(codes)
