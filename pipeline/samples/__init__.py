"""Sample sheet generator: realistic scanned sign-off sheets plus the truth of what is on them."""

from __future__ import annotations

from pipeline.samples.corpus import (
    CUSTOMERS,
    DATE_ORDERS,
    REFERENCE_DATE,
    Customer,
    format_time,
    random_sheet,
    write_articles_csv,
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
    ROTATIONS,
    ItemTruth,
    SampleFile,
    SheetTruth,
    load_truth,
    write_truth,
)
from pipeline.samples.wide import (
    OTHER_KINDS,
    PROFILES,
    RATES,
    OtherPage,
    PlannedFile,
    plan_corpus,
    render_other_page,
    write_corpus,
    write_planned_file,
)

__all__ = [
    "A4_MM",
    "BARCODE_KINDS",
    "CUSTOMERS",
    "DATE_ORDERS",
    "DEGRADE_LEVELS",
    "LANGUAGES",
    "LAYOUTS",
    "OTHER_KINDS",
    "PAGE_KINDS",
    "PROFILES",
    "RATES",
    "REFERENCE_DATE",
    "ROTATIONS",
    "TIME_STYLES",
    "Customer",
    "ItemTruth",
    "OtherPage",
    "PlannedFile",
    "SampleFile",
    "SheetTruth",
    "blank_page",
    "degrade",
    "format_time",
    "load_truth",
    "page_size",
    "plan_corpus",
    "random_sheet",
    "render_other_page",
    "render_sheet",
    "write_articles_csv",
    "write_customers_csv",
    "write_demo_set",
    "write_corpus",
    "write_planned_file",
    "write_truth",
]
