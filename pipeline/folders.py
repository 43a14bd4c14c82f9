"""The archive's top folders: which hold filed documents, and which are signoff's own (no imports, so
the index and the report can ask without loading the filing code)."""

from __future__ import annotations

__all__ = ["DUPLICATES_FOLDER", "OTHER_FOLDER", "UNKNOWN_CUSTOMER", "is_document_folder"]

UNKNOWN_CUSTOMER = "_unknown"  # sheets whose customer could not be read
OTHER_FOLDER = "_other"  # pages that are not sign-off sheets
DUPLICATES_FOLDER = "_duplicates"  # repeated files set aside by the watcher


def is_document_folder(name: str) -> bool:
    """A customer folder, `_unknown` or `_other`: filed documents. `_quarantine`, `_index`,
    `_duplicates`, `_state` and hidden folders are signoff's own and hold none."""
    return name in (UNKNOWN_CUSTOMER, OTHER_FOLDER) or not name.startswith(("_", "."))
