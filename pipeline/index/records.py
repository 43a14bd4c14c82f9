"""One sheet's full record for `signoff show`: its sidecar, found through the index."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.index.store import Hit, IndexStore

__all__ = ["Record", "find_records"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    """A filed sheet: where its PDF is, what its sidecar says, and how the index sees it."""

    pdf: Path  # absolute
    path: str  # archive-relative, as in search hits
    sidecar: dict[str, Any]
    version: int
    latest: bool

    def to_json(self) -> dict[str, Any]:
        """The sidecar as filed, plus where it is (``path`` archive-relative as in search, ``pdf`` absolute)."""
        return {
            **self.sidecar,
            "path": self.path,
            "pdf": str(self.pdf),
            "sidecar_file": str(self.pdf.with_suffix(".json")),
            "latest": self.latest,
        }


def _read_sidecar(pdf: Path) -> dict[str, Any] | None:
    side = pdf.with_suffix(".json")
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("cannot read the sidecar %s (%s)", side, exc)
        return None
    return data if isinstance(data, dict) else None


def _from_hit(archive: Path, hit: Hit) -> Record | None:
    pdf = archive / hit.path
    sidecar = _read_sidecar(pdf)
    if sidecar is None:
        return None
    return Record(pdf=pdf, path=hit.path, sidecar=sidecar, version=hit.version, latest=hit.latest)


def find_records(store: IndexStore, archive: Path, key: str) -> list[Record]:
    """The records of a delivery number (any case, every version, newest first) or of an archive path.

    ``key`` may also be an archive-relative path such as ``Acme/2025/03/DN-1.v2.pdf`` (or its
    ``.json``), to show one exact version. A sheet the index knows but whose sidecar is gone
    is left out with a warning (the index is behind the archive: ``signoff reindex``).
    """
    archive = Path(archive)
    key = key.strip()
    if "/" in key or key.lower().endswith((".pdf", ".json")):
        rel = key.removeprefix(f"{archive.name}/") if not (archive / key).exists() else key
        pdf = (archive / rel).with_suffix(".pdf")
        try:
            pdf.resolve().relative_to(archive.resolve())
        except ValueError:
            return []
        sidecar = _read_sidecar(pdf)
        if sidecar is None:
            return []
        newest = store.lookup(sidecar["delivery_number"]) if sidecar.get("delivery_number") else []
        rel_path = pdf.relative_to(archive).as_posix()
        latest = not newest or any(h.path == rel_path and h.latest for h in newest)
        version = sidecar.get("version") if isinstance(sidecar.get("version"), int) else 1
        return [Record(pdf=pdf, path=rel_path, sidecar=sidecar, version=version, latest=latest)]
    records = [_from_hit(archive, hit) for hit in store.lookup(key)]
    return [r for r in records if r is not None]
