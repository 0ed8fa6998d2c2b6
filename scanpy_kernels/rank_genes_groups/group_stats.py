"""Per-group sums and nonzero counts in one pass over the matrix.

All groups (and the remainder, given by the drivers as the last group, see
:mod:`._common`) are accumulated in one pass, so the frontend derives every "rest"
statistic from these rows (:mod:`.rest_stats`) without touching the matrix again.

The arithmetic reproduces scanpy 1.12.4 bit for bit (``scanpy.get._kernels``, used by
``rank_genes_groups`` through ``sc.get.aggregate``):

* ``group_sums_*`` — ``aggregate(func="mean")`` is ``sum / n`` with the sum taken in
  float64, cells in ascending row order (``agg_sum_csr``/``agg_sum_csc``/indicator
  matmul).  This is what the Wilcoxon path uses for means (logfoldchanges).
* the means and variances of the t-tests (``aggregate(func=["mean", "var"],
  dof=1)``) come from the Welford kernels both families share
  (:mod:`.._welford`: ``skip_zeros`` / ``count_nonzero`` true).

Stored zeros (explicit zeros in ``data``) are skipped, i.e. treated as implicit zeros,
exactly as scanpy does after ``X.eliminate_zeros()``.  Rows with code ``-1`` are
skipped; empty groups get zeros.
"""

from __future__ import annotations

import numba
import numpy as np

from .._columns import balanced_column_blocks, row_entries
from ..toolkit import assume, kernel, num_threads, zeros1, zeros2
from ._common import examples, matrix_signatures

__all__ = ["group_sums_csc", "group_sums_csr", "group_sums_dense"]

#: columns per dense prange task
_DENSE_BLOCK = 64

#: (sums, nnz) of (data, indices, indptr, n_rows, n_cols | x), codes, n_groups
_SPARSE, _DENSE = matrix_signatures("Tuple((float64[:, ::1], int64[:, ::1]))")


# --------------------------------------------------------------------------- sums


@kernel(signatures=_SPARSE, example=examples("csr"))
def group_sums_csr(data, indices, indptr, n_rows, n_cols, codes, n_groups):
    """Per-group float64 sums and nonzero counts of a canonical CSR matrix.

    Returns ``(sums, nnz)``, each ``(n_groups, n_cols)``.  Parallel over disjoint
    column ranges (one per thread, ~equal nnz); every range sweeps the rows in
    ascending order, so each sum is added in scanpy's order at any thread count.
    """
    sums = np.empty((n_groups, n_cols))
    nnz = np.empty((n_groups, n_cols), np.int64)
    # per (group, column) q: acc[2q] sum, acc[2q + 1] nonzeros (a float64 count, exact
    # below 2**53): one cache line per update instead of two
    acc = zeros1(2 * n_groups * n_cols, np.float64)
    # one column range per thread: every task visits every row once (row visits,
    # not nonzeros, are what a CSR column sweep pays extra)
    n_tasks = max(1, min(n_cols, num_threads()))
    bounds = balanced_column_blocks(indices, indptr, n_cols, n_tasks)
    for t in numba.prange(n_tasks):
        lo = bounds[t]
        hi = bounds[t + 1]
        for r in range(n_rows):
            g = codes[r]
            if g >= 0:
                off = g * n_cols
                vals, cols = row_entries(data, indices, indptr, r, lo, hi, n_cols)
                for p in range(vals.shape[0]):
                    v = np.float64(vals[p])
                    q = 2 * (off + cols[p])
                    assume(q >= 0)
                    if v != 0.0:
                        acc[q] += v  # race-free: column in [lo, hi), task t's own
                        acc[q + 1] += 1.0  # race-free: column in [lo, hi), task t's
        for s in range(n_groups):
            for j in range(lo, hi):
                q = 2 * (s * n_cols + j)
                sums[s, j] = acc[q]  # race-free: j in [lo, hi), task t's own columns
                nnz[s, j] = np.int64(acc[q + 1])  # race-free: task t's own columns
    return sums, nnz


@kernel(signatures=_SPARSE, example=examples("csc"))
def group_sums_csc(data, indices, indptr, n_rows, n_cols, codes, n_groups):
    """Per-group float64 sums and nonzero counts of a CSC matrix (parallel over genes)."""
    sums = zeros2(n_groups, n_cols, np.float64)
    nnz = zeros2(n_groups, n_cols, np.int64)
    for j in numba.prange(n_cols):
        for p in range(indptr[j], indptr[j + 1]):
            v = np.float64(data[p])
            g = codes[indices[p]]
            if v != 0.0 and g >= 0:
                sums[g, j] += v
                nnz[g, j] += 1
    return sums, nnz


@kernel(signatures=_DENSE, example=examples("dense"))
def group_sums_dense(x, codes, n_groups):
    """Per-group float64 sums and nonzero counts of a C-contiguous dense matrix."""
    n_rows, n_cols = x.shape
    sums = zeros2(n_groups, n_cols, np.float64)
    nnz = zeros2(n_groups, n_cols, np.int64)
    n_blocks = (n_cols + _DENSE_BLOCK - 1) // _DENSE_BLOCK
    for b in numba.prange(n_blocks):
        c0 = b * _DENSE_BLOCK
        c1 = min(c0 + _DENSE_BLOCK, n_cols)
        for r in range(n_rows):
            g = codes[r]
            if g >= 0:
                for j in range(c0, c1):
                    v = np.float64(x[r, j])
                    sums[g, j] += v  # race-free: j in [c0, c1), block b's own columns
                    nnz[g, j] += v != 0.0  # race-free: j in [c0, c1), block b's own
    return sums, nnz
