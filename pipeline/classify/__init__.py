"""Classification: what kind of page a page is, and which known customer a name means."""

from __future__ import annotations

from pipeline.classify.customers import Customer, CustomerList, load_customers
from pipeline.classify.kind import page_kind

__all__ = ["Customer", "CustomerList", "load_customers", "page_kind"]
