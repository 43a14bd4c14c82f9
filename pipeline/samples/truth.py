"""What is on a generated sample sheet: the truth the end-to-end tests compare the reader against."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "BARCODE_KINDS",
    "LANGUAGES",
    "LAYOUTS",
    "PAGE_KINDS",
    "ROTATIONS",
    "TIME_STYLES",
    "ItemTruth",
    "SampleFile",
    "SheetTruth",
    "load_truth",
    "write_truth",
]

LANGUAGES = ("en", "sv", "zh")
LAYOUTS = ("left", "above")
TIME_STYLES = ("printed", "stamped", "empty")
BARCODE_KINDS = ("code128", "qr", "both")
PAGE_KINDS = ("sheet", "blank", "other")  # "other": an invoice or cover letter, not a sign-off sheet
ROTATIONS = (0, 90, 180, 270)

_TRUTH_VERSION = 1


@dataclass(frozen=True, slots=True)
class ItemTruth:
    """One printed line item of a sheet's table."""

    sku: str
    description: str
    qty: int
    unit: str | None = None

    @property
    def qty_text(self) -> str:
        """The quantity cell exactly as printed, e.g. ``"12 pcs"`` or ``"3"``."""
        return f"{self.qty} {self.unit}" if self.unit else str(self.qty)

    def to_json(self) -> dict[str, Any]:
        """Return a plain JSON-able dict."""
        return {"sku": self.sku, "description": self.description, "qty": self.qty, "unit": self.unit}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ItemTruth:
        """Build an item from `to_json` output."""
        return cls(sku=d["sku"], description=d["description"], qty=int(d["qty"]), unit=d.get("unit"))


@dataclass(frozen=True, slots=True)
class SheetTruth:
    """Everything printed, stamped or signed on one generated sheet (which may span two pages)."""

    delivery_number: str  # e.g. "DN-2026-004817"
    language: str  # "en" | "sv" | "zh": which label vocabulary
    layout: str  # "left" (labels left of values) | "above" (labels above values)
    customer: str  # "" when the customer field is left blank
    customer_id: str  # "" when the customer field is left blank
    address: tuple[str, ...]
    items: tuple[ItemTruth, ...]  # () when the item table is empty
    time: str | None  # ISO minute "YYYY-MM-DDTHH:MM"; None when the field is left empty
    time_text: str | None  # exactly what is printed or stamped
    time_style: str  # "printed" | "stamped" | "empty"
    receiver: str | None
    signed: bool
    barcode: str  # "code128" | "qr" | "both"
    pages: int = 1
    remarks: str | None = None
    rotation: int = 0  # degrees the scanned page(s) are turned clockwise: 0, 90, 180 or 270

    @property
    def barcode_payloads(self) -> tuple[str, ...]:
        """The data each page's barcode(s) carry: the delivery number, plus ``" i/n"`` on multi-page sheets."""
        if self.pages == 1:
            return (self.delivery_number,)
        return tuple(f"{self.delivery_number} {i}/{self.pages}" for i in range(1, self.pages + 1))

    @property
    def expected_status(self) -> dict[str, str]:
        """The field statuses a perfect reader reports for the required fields."""
        return {
            "customer": "ok" if self.customer else "missing",
            "items": "ok" if self.items else "missing",
            "time": "missing" if self.time is None else "ok",
            "signature": "ok" if self.signed else "missing",
        }

    @property
    def complete(self) -> bool:
        """Whether a perfect reader finds the sheet complete (customer, items, dated and signed)."""
        return bool(self.customer) and bool(self.items) and self.time is not None and self.signed

    def to_json(self) -> dict[str, Any]:
        """Return a plain JSON-able dict (derived `expected`/`complete` keys are informative only).

        ``rotation`` is written only when not 0, so an upright sheet's JSON (which seeds `render_sheet`'s
        default generator) is the same as before the field existed.
        """
        d: dict[str, Any] = {
            "delivery_number": self.delivery_number,
            "language": self.language,
            "layout": self.layout,
            "customer": self.customer,
            "customer_id": self.customer_id,
            "address": list(self.address),
            "items": [item.to_json() for item in self.items],
            "time": self.time,
            "time_text": self.time_text,
            "time_style": self.time_style,
            "receiver": self.receiver,
            "signed": self.signed,
            "barcode": self.barcode,
            "pages": self.pages,
            "remarks": self.remarks,
            "expected": self.expected_status,
            "complete": self.complete,
        }
        if self.rotation:
            d["rotation"] = self.rotation
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SheetTruth:
        """Build a sheet from `to_json` output; derived keys are ignored."""
        return cls(
            delivery_number=d["delivery_number"],
            language=d["language"],
            layout=d["layout"],
            customer=d["customer"],
            customer_id=d["customer_id"],
            address=tuple(d.get("address", ())),
            items=tuple(ItemTruth.from_json(i) for i in d["items"]),
            time=d.get("time"),
            time_text=d.get("time_text"),
            time_style=d["time_style"],
            receiver=d.get("receiver"),
            signed=bool(d["signed"]),
            barcode=d["barcode"],
            pages=int(d.get("pages", 1)),
            remarks=d.get("remarks"),
            rotation=int(d.get("rotation", 0)),
        )


@dataclass(frozen=True, slots=True)
class SampleFile:
    """One written sample file and the sheets in it."""

    path: Path
    sheets: tuple[SheetTruth, ...]  # in file order
    page_kinds: tuple[str, ...]  # per page of the file: "sheet" | "blank" | "other"
    profile: str | None = None  # how it was scanned ("scanner" | "heavy"); None for the demo set
    dpi: int | None = None  # scan resolution; None when not recorded

    def to_json(self) -> dict[str, Any]:
        """Return a plain JSON-able dict (``profile``/``dpi`` only when recorded)."""
        d: dict[str, Any] = {
            "path": str(self.path),
            "name": self.path.name,
            "sheets": [s.to_json() for s in self.sheets],
            "page_kinds": list(self.page_kinds),
        }
        if self.profile is not None:
            d["profile"] = self.profile
        if self.dpi is not None:
            d["dpi"] = self.dpi
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> SampleFile:
        """Build a sample file record from `to_json` output."""
        return cls(
            path=Path(d["path"]),
            sheets=tuple(SheetTruth.from_json(s) for s in d["sheets"]),
            page_kinds=tuple(d["page_kinds"]),
            profile=d.get("profile"),
            dpi=int(d["dpi"]) if d.get("dpi") is not None else None,
        )


def write_truth(files: list[SampleFile], path: Path) -> None:
    """Write one JSON file listing every sample file and its sheets.

    Args:
        files: The sample files, as `write_demo_set` returns them.
        path: Where to write the JSON (UTF-8, non-ASCII kept readable).
    """
    doc = {"version": _TRUTH_VERSION, "files": [f.to_json() for f in files]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def load_truth(path: Path) -> list[SampleFile]:
    """Read a truth file written by `write_truth`.

    Args:
        path: The JSON file.

    Returns:
        The sample files, in the order they were written.
    """
    doc = json.loads(path.read_text(encoding="utf-8"))
    return [SampleFile.from_json(f) for f in doc["files"]]
