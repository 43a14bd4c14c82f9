"""The rows `signoff watch --json` prints for each outcome (the same shape `process --json` prints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.service.journal import printable
from pipeline.service.writer import Outcome
from pipeline.views import doc_row

__all__ = ["outcome_rows"]


def _shown(path: Path, archive: Path) -> str:
    """`archive/…` as `process` shows it."""
    try:
        return f"{archive.name}/{path.relative_to(archive).as_posix()}"
    except ValueError:
        return printable(path)


def _row_of_sidecar(sidecar: dict[str, Any], source: str, where: str, outcome: str) -> dict[str, Any]:
    fields = sidecar.get("fields") or {}
    statuses = {n: (fields.get(n) or {}).get("status", "missing") for n in ("customer", "items", "time", "signature")}
    return {
        "source": source,
        "pages": (sidecar.get("source") or {}).get("pages", []),
        "kind": sidecar.get("kind") or "signoff",
        "delivery_number": sidecar.get("delivery_number"),
        "customer": sidecar.get("customer"),
        "date": sidecar.get("date"),
        "statuses": statuses,
        "complete": bool(sidecar.get("complete")),
        "outcome": outcome,
        "path": where,
    }


def outcome_rows(o: Outcome, archive: Path) -> list[dict[str, Any]]:
    """One row per sheet filed (or repeated by a duplicate), or one row for a quarantined file."""
    source = printable(o.source)
    if o.event == "quarantined" and o.error is not None:
        return [
            {
                "source": source,
                "outcome": "quarantined",
                "reason": str(o.error.reason),
                "message": o.error.message,
                "path": _shown(o.target, archive) if o.target else None,
            }
        ]
    if o.event == "filed":
        rows = [doc_row(f.doc, _shown(f.pdf, archive), f.outcome) for f in o.filed]
    elif o.event == "duplicate":
        if o.filed:
            rows = [doc_row(f.doc, _shown(f.pdf, archive), "duplicate") for f in o.filed]
        else:
            pdf = archive / (o.of or "")
            try:
                sidecar = json.loads(pdf.with_suffix(".json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                sidecar = {}
            rows = [_row_of_sidecar(sidecar, source, _shown(pdf, archive), "duplicate")]
        for row in rows:
            row["set_aside"] = _shown(o.target, archive) if o.target else None
    else:
        return []
    for row in rows:
        row["source"] = source
    return rows
