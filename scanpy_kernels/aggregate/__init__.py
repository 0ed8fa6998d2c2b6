"""Per-group statistics of a matrix's rows (``get.aggregate``).

The drivers (:mod:`.drivers`) take a :class:`~.._input.Matrix` and group ``codes``
and return scanpy 1.12.4's ``Aggregate`` results bit for bit: :func:`sums` (sum and
count_nonzero, one pass; the mean follows), :func:`mean_var` (Welford's, shared with
``hvg`` and ``rank_genes_groups``: :mod:`.._welford`) and :func:`medians`.  Every
kernel is parallel over columns (blocks of them for CSR and dense), whatever the
number of groups.  Kernels: :mod:`.sums`, :mod:`.median`.
"""

from __future__ import annotations

from .drivers import mean_var, medians, sums
from .median import group_medians_csc, group_medians_csr, group_medians_dense
from .sums import group_sums_csc, group_sums_csr, group_sums_dense

__all__ = [
    "group_medians_csc",
    "group_medians_csr",
    "group_medians_dense",
    "group_sums_csc",
    "group_sums_csr",
    "group_sums_dense",
    "mean_var",
    "medians",
    "sums",
]
