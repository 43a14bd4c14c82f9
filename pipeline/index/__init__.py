"""Full-text search over the archive: the only package that imports whoosh."""

from __future__ import annotations

from pipeline.index.query import QUERY_HELP, parse_query
from pipeline.index.schema import SCHEMA_VERSION
from pipeline.index.store import (
    Hit,
    IndexLocked,
    IndexMissing,
    IndexSchemaMismatch,
    IndexStore,
    iter_sidecars,
    rebuild,
)

__all__ = [
    "QUERY_HELP",
    "SCHEMA_VERSION",
    "Hit",
    "IndexLocked",
    "IndexMissing",
    "IndexSchemaMismatch",
    "IndexStore",
    "iter_sidecars",
    "parse_query",
    "rebuild",
]
