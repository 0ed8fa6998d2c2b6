"""Kernels of ``sc.tl.rank_genes_groups``: group statistics, rest statistics, Wilcoxon.

Every kernel over a matrix takes the one calling convention,
``kernel(*m.args, codes, n_groups, ...)``: CSR/CSC components and shape or a
C-contiguous dense matrix (float32/float64 data, int32/int64 indices), then int64
per-cell group codes (``-1``: cell in no selected group) and the group count.  The
per-group statistics (and the drivers' outputs) have a last row for the cells with
code ``-1``.  All results equal scanpy 1.12.4's bit for bit (see each module).

- group sums and nonzeros (the Wilcoxon means, ``pts``) and the t-tests' Welford
  mean, var and nonzeros come from :mod:`..aggregate` (``sums``, ``mean_var``).
- :mod:`.rest_stats`: ``rest_mean_pts``, ``rest_var`` — each group's complement.
- :mod:`.wilcoxon`: ``ranksums_{csr,csc,dense}`` (rank sums, tie terms; zeros never
  sorted).
- :mod:`.nan_ranks`: ``nan_rank_sums`` — the ranks scanpy's unstable sort gave NaNs.
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
from .nan_ranks import nan_rank_sums
from .rest_stats import rest_mean_pts, rest_var
from .wilcoxon import ranksums_csc, ranksums_csr, ranksums_dense

__all__ = [
    "group_mean_var",
    "group_means",
    "nan_rank_sums",
    "ranksums",
    "ranksums_csc",
    "ranksums_csr",
    "ranksums_dense",
    "rest_mean_pts",
    "rest_var",
    "tie_factor",
    "wilcoxon_zscores",
]
