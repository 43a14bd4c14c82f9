"""Classification: what kind of page a page is, and which known customer or article a reading means."""

from __future__ import annotations

from pipeline.classify.articles import ArticleList, load_articles
from pipeline.classify.customers import Customer, CustomerList, load_customers
from pipeline.classify.kind import page_kind
from pipeline.classify.known import Known, load_known

__all__ = ["ArticleList", "Customer", "CustomerList", "Known", "load_articles", "load_customers", "load_known", "page_kind"]
