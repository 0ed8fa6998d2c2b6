"""Kernels of ``sc.tl.rank_genes_groups``: group statistics, rest statistics, Wilcoxon.

Every kernel takes raw arrays (CSR/CSC components or a C-contiguous dense matrix,
float32/float64 data, int32/int64 indices) and a per-cell group-code array
(int32/int64, ``-1``: cell in no selected group).  Outputs have one row per group
plus, for the per-group statistics, a last row for the cells with code ``-1``.
All results equal scanpy 1.12.4's bit for bit (see each module).

- :mod:`.group_stats`: ``group_sums_{csr,csc,dense}`` (sum, nnz),
  ``group_mean_var_{csr,csc,dense}`` (mean, var ddof=1, nnz) — one pass, all groups.
- :mod:`.rest_stats`: ``rest_mean_pts``, ``rest_var`` — each group's complement.
- :mod:`.wilcoxon`: ``ranksums_{csr,csc,dense}`` (rank sums, tie terms; zeros never
  sorted).
- :mod:`.drivers`: what the frontend calls (a :class:`~.._input.Matrix` in):
  ``group_means``, ``group_mean_var``, ``ranksums``, ``wilcoxon_zscores``.
"""

from __future__ import annotations

from .drivers import (
    group_mean_var,
    group_means,
    ranksums,
    tie_factor,
    wilcoxon_zscores,
)
from .group_stats import (
    group_mean_var_csc,
    group_mean_var_csr,
    group_mean_var_dense,
    group_sums_csc,
    group_sums_csr,
    group_sums_dense,
)
from .rest_stats import rest_mean_pts, rest_var
from .wilcoxon import ranksums_csc, ranksums_csr, ranksums_dense

__all__ = [
    "group_mean_var",
    "group_mean_var_csc",
    "group_mean_var_csr",
    "group_mean_var_dense",
    "group_means",
    "group_sums_csc",
    "group_sums_csr",
    "group_sums_dense",
    "ranksums",
    "ranksums_csc",
    "ranksums_csr",
    "ranksums_dense",
    "rest_mean_pts",
    "rest_var",
    "tie_factor",
    "wilcoxon_zscores",
]
