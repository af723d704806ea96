"""gridapp: gene regulatory network inference and regulon exploration for single-cell data."""

from __future__ import annotations

__version__ = "0.1.0"
