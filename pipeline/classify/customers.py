"""The known customers (a CSV of id,name) and matching a read name to one despite OCR slips."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz import fuzz, process

from pipeline.errors import ConfigError

__all__ = ["Customer", "CustomerList", "load_customers"]

MATCH_THRESHOLD = 85.0  # rapidfuzz WRatio, 0-100


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    name: str


def _key(name: str) -> str:
    text = unicodedata.normalize("NFKD", name.casefold())
    return "".join(ch for ch in text if not unicodedata.combining(ch)).strip()


@dataclass(frozen=True, slots=True)
class CustomerList:
    customers: tuple[Customer, ...]

    def match(self, read: str) -> tuple[Customer | None, float]:
        """The known customer `read` names, with the match score; None when nothing is close enough."""
        if not read.strip() or not self.customers:
            return None, 0.0
        choices = {i: _key(c.name) for i, c in enumerate(self.customers)}
        best = process.extractOne(_key(read), choices, scorer=fuzz.WRatio)
        if best is None or best[1] < MATCH_THRESHOLD:
            return None, float(best[1]) if best else 0.0
        return self.customers[best[2]], float(best[1])


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
