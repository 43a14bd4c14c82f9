"""The demo: generated sample scans into the inbox, filed, tabled, then searched."""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path

from rich.console import Console

from pipeline.run import Pipeline, iter_inbox
from pipeline.settings import Settings
from pipeline.views import hits_table, outcome_rows, progress, rows_table, stdout

__all__ = ["demo_queries", "run_demo"]


def demo_queries(truth_files: list) -> list[str]:  # noqa: ANN001 - SampleFile from pipeline.samples
    """Two searches a person would type: a customer's name, and a word from an item line."""
    sheets = [s for f in truth_files for s in f.sheets]
    latin = [s for s in sheets if s.language != "zh"] or sheets
    customer_word = max(latin[0].customer.split(), key=len)
    words = [w for s in latin[1:] for i in s.items for w in i.description.split() if w.isalpha() and len(w) > 3]
    item_word = words[0] if words else latin[0].items[0].description.split()[0]
    return [f"customer:{customer_word.lower()}", item_word.lower()]


def run_demo(settings: Settings, seed: int = 7) -> int:
    from pipeline.index import IndexStore
    from pipeline.samples import write_customers_csv, write_demo_set

    out = stdout()
    err = Console(stderr=True)
    settings.inbox.mkdir(parents=True, exist_ok=True)
    settings.archive.mkdir(parents=True, exist_ok=True)
    if settings.customers is None:
        # An office configures its customer list; the demo brings the sample customers' list, so
        # names read with an OCR slip are filed under their canonical spelling.
        tmp = Path(tempfile.mkdtemp(prefix="signoff-demo-"))
        write_customers_csv(tmp / "customers.csv")
        settings = dataclasses.replace(settings, customers=tmp / "customers.csv")
    files = write_demo_set(settings.inbox, seed=seed, date_order=settings.date_order)
    err.print(f"wrote {len(files)} generated scans into {settings.inbox}")
    paths = list(iter_inbox(settings.inbox))
    pipe = Pipeline(settings)
    started = time.monotonic()
    with progress(len(paths), "reading scans") as advance:
        outcomes = pipe.process_many(paths, progress=lambda o: advance())
    elapsed = time.monotonic() - started
    pages = sum(len(d.pages) for o in outcomes for d in o.docs)
    rows = outcome_rows(outcomes, settings.archive)
    out.print(rows_table(rows, title=f"{len(rows)} sheet(s) from {len(paths)} file(s)"))
    if pages:
        out.print(f"{pages} page(s) in {elapsed:.0f} s: {elapsed / pages:.1f} s a page\n")
    store = IndexStore.open(settings.index_dir)
    try:
        for query in demo_queries(files):
            out.print(f"$ signoff search {query}")
            hits = store.search(query, limit=10)
            out.print(hits_table(hits, f"{len(hits)} hit(s)") if hits else "no hits")
    finally:
        store.close()
    return 1 if any(o.error for o in outcomes) else 0
