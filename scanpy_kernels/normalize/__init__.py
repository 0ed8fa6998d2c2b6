"""Per-cell normalization (``normalize_total``).

The driver (:mod:`.drivers`) takes a CSR :class:`~.._input.Matrix` as stored
(``as_matrix(x, stored=True)``) and returns scanpy's results bit for bit:
:func:`normalize_total` (the per-cell totals, kernel :func:`.totals.row_totals`; the
highly expressed genes, :func:`.totals.highly_expressed`; the division of each row by
its size factor into a new values array, :func:`.scale.scale_rows`).
"""

from __future__ import annotations

from .drivers import Normalized, normalize_total
from .scale import scale_rows
from .totals import highly_expressed, row_totals

__all__ = [
    "Normalized",
    "highly_expressed",
    "normalize_total",
    "row_totals",
    "scale_rows",
]
