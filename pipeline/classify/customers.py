"""The known customers (a CSV of id,name) and matching a read name to one despite OCR slips."""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process

from pipeline.errors import ConfigError

__all__ = ["Customer", "CustomerList", "load_customers"]

MATCH_THRESHOLD = 85.0  # rapidfuzz ratio (edit distance), 0-100: WRatio took "Acme Trading Ltd" for "Brightwater Supplies Ltd"
# A weaker read still names a customer when it is the one clear candidate: this close, and this far
# ahead of the next best ("上海局达物浪有限公司" is 上海恒达物流有限公司 at 80, the next at 40).
CLEAR_THRESHOLD = 75.0
CLEAR_MARGIN = 20.0
# A line of the page that is a known name on its own (the customer label itself was not read).
LINE_THRESHOLD = 90.0


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str


# A Chinese character (OCR puts spaces between them that the name does not have).
_CJK = r"[\u3400-\u9fff\uf900-\ufaff]"


def _key(name: str) -> str:
    """A name as compared: case and accents folded, no spaces beside Chinese characters, no stray
    marks at its ends (a speck read as "‘" before it)."""
    text = unicodedata.normalize("NFKD", name.casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(rf"(?<={_CJK})\s+|\s+(?={_CJK})", "", text)
    return re.sub(r"^[^\w]+|[^\w.)]+$", "", text.strip())


@dataclass(frozen=True, slots=True)
class CustomerList:
    customers: tuple[Customer, ...]

    def match(self, read: str) -> tuple[Customer | None, float]:
        """The known customer `read` names, with the match score; None when nothing is close enough."""
        if not read.strip() or not self.customers:
            return None, 0.0
        choices = {i: _key(c.name) for i, c in enumerate(self.customers)}
        top = process.extract(_key(read), choices, scorer=fuzz.ratio, limit=2)
        if not top:
            return None, 0.0
        best = top[0]
        runner_up = top[1][1] if len(top) > 1 else 0.0
        clear = best[1] >= CLEAR_THRESHOLD and best[1] - runner_up >= CLEAR_MARGIN
        if best[1] < MATCH_THRESHOLD and not clear:
            return None, float(best[1])
        return self.customers[best[2]], float(best[1])

    def find_in(self, lines: Iterable[str]) -> tuple[Customer | None, float]:
        """A known customer whose name stands on a line of its own (perhaps with a misread label
        or a speck beside it), for a page whose customer label could not be read."""
        best: tuple[Customer | None, float] = (None, 0.0)
        names = [(c, _key(c.name)) for c in self.customers]
        for line in lines:
            key = _key(line)
            for customer, name in names:
                if not name or len(key) > 1.5 * len(name) + 4 or len(key) < 0.8 * len(name):
                    continue  # a sentence that mentions a name is not the customer field
                score = fuzz.partial_ratio(name, key) if len(key) > len(name) else fuzz.ratio(name, key)
                if score >= LINE_THRESHOLD and score > best[1]:
                    best = (customer, float(score))
        return best


def load_customers(path: Path) -> CustomerList:
    """Read a customers CSV with columns `id,name` (other columns are ignored)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = {f.strip().lower(): f for f in reader.fieldnames or []}
            if "id" not in fields or "name" not in fields:
                raise ConfigError(f"{path}: needs the columns id,name (found {reader.fieldnames})")
            rows = [
                Customer(row[fields["id"]].strip(), row[fields["name"]].strip())
                for row in reader
                if row.get(fields["name"], "").strip()
            ]
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    return CustomerList(tuple(rows))
