"""Sample sheet generator: realistic scanned sign-off sheets plus the truth of what is on them."""

from __future__ import annotations

from pipeline.samples.corpus import (
    CUSTOMERS,
    DATE_ORDERS,
    REFERENCE_DATE,
    Customer,
    format_time,
    random_sheet,
    write_customers_csv,
    write_demo_set,
)
from pipeline.samples.degrade import DEGRADE_LEVELS, degrade
from pipeline.samples.render import A4_MM, blank_page, page_size, render_sheet
from pipeline.samples.truth import (
    BARCODE_KINDS,
    LANGUAGES,
    LAYOUTS,
    PAGE_KINDS,
    TIME_STYLES,
    ItemTruth,
    SampleFile,
    SheetTruth,
    load_truth,
    write_truth,
)

__all__ = [
    "A4_MM",
    "BARCODE_KINDS",
    "CUSTOMERS",
    "DATE_ORDERS",
    "DEGRADE_LEVELS",
    "LANGUAGES",
    "LAYOUTS",
    "PAGE_KINDS",
    "REFERENCE_DATE",
    "TIME_STYLES",
    "Customer",
    "ItemTruth",
    "SampleFile",
    "SheetTruth",
    "blank_page",
    "degrade",
    "format_time",
    "load_truth",
    "page_size",
    "random_sheet",
    "render_sheet",
    "write_customers_csv",
    "write_demo_set",
    "write_truth",
]
