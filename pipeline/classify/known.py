"""What a deployment knows before it reads a sheet, that readings are matched to: its customers and
its article numbers (each optional)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.classify.articles import ArticleList, load_articles
from pipeline.classify.customers import CustomerList, load_customers

__all__ = ["Known", "load_known"]


@dataclass(frozen=True, slots=True)
class Known:
    customers: CustomerList | None = None
    articles: ArticleList | None = None


def load_known(customers: Path | None, articles: Path | None) -> Known:
    """The lists the settings name (raises ConfigError for a file that cannot be read as one)."""
    return Known(
        load_customers(customers) if customers else None,
        load_articles(articles) if articles else None,
    )
