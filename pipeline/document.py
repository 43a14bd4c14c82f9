"""The records that flow through the pipeline: pages, words, fields and the document."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = [
    "Barcode",
    "FieldResult",
    "FieldStatus",
    "Page",
    "REQUIRED_FIELDS",
    "ScanDoc",
    "Word",
]


class FieldStatus(StrEnum):
    """The three answers a field check can give (SHEET_FORMAT.md)."""

    OK = "ok"
    UNREADABLE = "unreadable"
    MISSING = "missing"


REQUIRED_FIELDS = ("customer", "items", "time", "signature")


@dataclass(frozen=True, slots=True)
class Word:
    """One word tesseract read, in page pixel coordinates of the upright page."""

    text: str
    left: int
    top: int
    width: int
    height: int
    conf: float
    line: int  # a page-wide line number: words sharing it were read as one line

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def cx(self) -> float:
        return self.left + self.width / 2

    @property
    def cy(self) -> float:
        return self.top + self.height / 2


@dataclass(frozen=True, slots=True)
class Barcode:
    """A decoded barcode; `page` counts from 1 within the source file."""

    symbology: str
    data: str
    page: int
    rect: tuple[int, int, int, int] = (0, 0, 0, 0)  # left, top, width, height
    orientation: int | None = None  # degrees the code is turned, where the decoder says

    def to_json(self) -> dict[str, Any]:
        return {"symbology": self.symbology, "data": self.data, "page": self.page}


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a source file, made upright, with what was read from it."""

    number: int  # 1-based within the source file
    image: Image.Image | None = field(default=None, repr=False, compare=False)  # dropped once read
    dpi: int = 300
    barcodes: tuple[Barcode, ...] = ()
    # The words' boxes stay in the reading process: a page's layout is read there, and the ~300
    # words of a dense page cost tens of KB, which the filing process would hold for every page of
    # a file until its last page is read.
    text: str = ""
    blank: bool = False
    rotated: int = 0  # degrees the page was turned to make it upright
    skew: float = 0.0  # degrees of skew that were corrected


@dataclass(frozen=True, slots=True)
class FieldResult:
    """The outcome of one field check."""

    status: FieldStatus
    value: Any = None
    confidence: float | None = None
    note: str | None = None  # why it is unreadable or missing, for a person

    def to_json(self, with_value: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"status": str(self.status)}
        if with_value:
            out["value"] = self.value
        if self.note:
            out["note"] = self.note
        return out


MISSING = FieldResult(FieldStatus.MISSING)


@dataclass(frozen=True, slots=True)
class ScanDoc:
    """One document (one delivery's sheet, possibly several pages) found in a source file."""

    source: Path  # the file as given; never modified
    sha256: str  # of the whole source file
    pages: tuple[Page, ...] = ()
    kind: str = "signoff"  # "signoff" or "other"
    delivery_number: str | None = None
    delivery_number_source: str | None = None  # "barcode" or "text"
    fields: dict[str, FieldResult] = field(default_factory=dict)
    customer_id: str | None = None
    notes: tuple[str, ...] = ()  # things a person should know, e.g. barcode and text disagree

    @property
    def page_numbers(self) -> list[int]:
        return [p.number for p in self.pages]

    @property
    def barcodes(self) -> list[Barcode]:
        return [b for p in self.pages for b in p.barcodes]

    @property
    def text(self) -> str:
        return "\n\f\n".join(p.text for p in self.pages).strip()

    @property
    def complete(self) -> bool:
        """Complete: a delivery number and no required field missing (SHEET_FORMAT.md)."""
        if self.kind != "signoff" or not self.delivery_number:
            return False
        return all(self.field(name).status is not FieldStatus.MISSING for name in REQUIRED_FIELDS)

    def field(self, name: str) -> FieldResult:
        return self.fields.get(name, MISSING)

    def replace(self, **changes: Any) -> ScanDoc:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The `signoff inspect --json` record (a contract: extend, never rename)."""
        fields = {
            name: self.field(name).to_json(with_value=name != "signature")
            for name in ("customer", "items", "time", "receiver", "signature")
        }
        return {
            "source": str(self.source),
            "pages": self.page_numbers,
            "kind": self.kind,
            "delivery_number": self.delivery_number,
            "barcodes": [b.to_json() for b in self.barcodes],
            "fields": fields,
            "complete": self.complete,
            "notes": list(self.notes),
            "text": self.text,
        }
