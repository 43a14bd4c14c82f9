"""signoff: scanned delivery sign-off sheets into a searchable, trustworthy archive."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
