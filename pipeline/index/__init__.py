"""Full-text search over the archive: the only package that imports whoosh."""

from __future__ import annotations

from pipeline.index.pending import PendingFolders, index_unindexed, pending_dir
from pipeline.index.query import QUERY_HELP, parse_query
from pipeline.index.records import Record, find_records
from pipeline.index.schema import SCHEMA_VERSION
from pipeline.index.store import (
    SORTS,
    Hit,
    IndexLocked,
    IndexMissing,
    IndexSchemaMismatch,
    IndexStore,
    Results,
    count_sidecars,
    iter_sidecars,
    open_or_rebuild,
    rebuild,
)

__all__ = [
    "QUERY_HELP",
    "SCHEMA_VERSION",
    "SORTS",
    "Hit",
    "IndexLocked",
    "IndexMissing",
    "IndexSchemaMismatch",
    "IndexStore",
    "PendingFolders",
    "Record",
    "Results",
    "count_sidecars",
    "find_records",
    "index_unindexed",
    "iter_sidecars",
    "open_or_rebuild",
    "parse_query",
    "pending_dir",
    "rebuild",
]
