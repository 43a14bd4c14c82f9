"""Page kinds: a sign-off sheet, or another page (an invoice, a cover letter)."""

from __future__ import annotations

__all__ = ["page_kind"]

SHEET_FIELDS = {"customer", "time", "signature", "receiver", "delivery_number"}


def page_kind(label_fields: set[str], has_table: bool, has_delivery_number: bool) -> str:
    """"signoff" when the page carries a delivery number or enough of a sheet's labels, else "other"."""
    found = len(label_fields & SHEET_FIELDS) + (1 if has_table else 0)
    if has_delivery_number and found >= 1:
        return "signoff"
    if found >= 3:
        return "signoff"
    return "other"
