"""Per-group sums / means / variances / nonzero counts in one pass over the matrix.

All groups (and the remainder slot, see :mod:`._common`) are accumulated in one pass,
so the frontend derives every "rest" statistic from these rows (:mod:`.rest_stats`)
without touching the matrix again.

The arithmetic reproduces scanpy 1.12.4 bit for bit (``scanpy.get._kernels``, used by
``rank_genes_groups`` through ``sc.get.aggregate``):

* ``group_sums_*`` — ``aggregate(func="mean")`` is ``sum / n`` with the sum taken in
  float64, cells in ascending row order (``agg_sum_csr``/``agg_sum_csc``/indicator
  matmul).  This is what the Wilcoxon path uses for means (logfoldchanges).
* ``group_mean_var_*`` — ``aggregate(func=["mean", "var"], dof=1)`` is Welford's
  update ``m += (x - m) / n``, ``M2 += (x - m_old) (x - m_new)`` over the cells of a
  group in ascending row order; sparse inputs run it over the nonzeros only and merge
  the block of ``k`` implicit zeros afterwards (Chan et al. 1979 with a zero-variance,
  zero-mean block: ``mean = mean_nz n_nz / n``, ``M2 += mean_nz² n_nz k / n``); then
  ``var = M2 / n`` and the ``dof=1`` correction ``var *= n / (n - 1)`` (NaN for
  ``n == 1``).  The t-test path uses these.

Stored zeros (explicit zeros in ``data``) are skipped, i.e. treated as implicit zeros,
exactly as scanpy does after ``X.eliminate_zeros()``.  Empty slots get zeros.
"""

from __future__ import annotations

import numba
import numpy as np

from .._columns import balanced_column_blocks, row_entries
from .._welford import merge_zeros, welford_step
from ..toolkit import (
    assume,
    helper,
    kernel,
    num_threads,
    thread_scratch,
    zeros1,
    zeros2,
)
from ._common import example_args, signatures, slot_of, slot_sizes

__all__ = [
    "group_mean_var_csc",
    "group_mean_var_csr",
    "group_mean_var_dense",
    "group_sums_csc",
    "group_sums_csr",
    "group_sums_dense",
]

#: columns per dense prange task
_DENSE_BLOCK = 64


def _ex_csr(rng):
    return example_args(rng, "csr")


def _ex_csc(rng):
    return example_args(rng, "csc")


def _ex_dense(rng):
    return example_args(rng, "dense")


_SUMS = "Tuple((float64[:, ::1], int64[:, ::1]))"
_MV = "Tuple((float64[:, ::1], float64[:, ::1], int64[:, ::1]))"


@helper
def _ddof1(n):
    """Return scanpy's ``dof=1`` factor ``n / (n - 1)``; NaN for ``n <= 1`` (``np.where(.., nan)``)."""
    if n > 1:
        return np.float64(n) / np.float64(n - 1)
    return np.nan


@helper
def _finish_sparse(mean_nz, m2_nz, n_nz, n):
    """(mean, var ddof=1) of ``n`` cells from Welford over their ``n_nz`` nonzeros.

    Same operations, same order as ``scanpy.get._kernels.mean_var_csr`` plus
    ``Aggregate.mean_var``'s ``dof`` rescale.
    """
    if n == 0:
        return 0.0, 0.0
    mean, var = merge_zeros(mean_nz, m2_nz, n_nz, n)
    return mean, var * _ddof1(n)


@helper
def _finish_dense(mean, m2, n):
    """(mean, var ddof=1) from Welford over all ``n`` cells (``mean_var_dense``)."""
    if n == 0:
        return 0.0, 0.0
    return mean, m2 / n * _ddof1(n)


# --------------------------------------------------------------------------- sums


@kernel(
    signatures=signatures(
        _SUMS + "({f}[::1], {i}[::1], {i}[::1], {c}[::1], int64, int64)"
    ),
    example=_ex_csr,
)
def group_sums_csr(data, indices, indptr, codes, n_groups, n_cols):
    """Per-slot float64 sums and nonzero counts of a canonical CSR matrix.

    Returns ``(sums, nnz)``, each ``(n_groups + 1, n_cols)``.  Parallel over disjoint
    column ranges (one per thread, ~equal nnz); every range sweeps the rows in
    ascending order, so each sum is added in scanpy's order at any thread count.
    """
    sums = np.empty((n_groups + 1, n_cols))
    nnz = np.empty((n_groups + 1, n_cols), np.int64)
    # per (slot, column) q: acc[2q] sum, acc[2q + 1] nonzeros (a float64 count, exact
    # below 2**53): one cache line per update instead of two
    acc = zeros1(2 * (n_groups + 1) * n_cols, np.float64)
    # one column range per thread: every task visits every row once (row visits,
    # not nonzeros, are what a CSR column sweep pays extra)
    n_tasks = max(1, min(n_cols, num_threads()))
    bounds = balanced_column_blocks(indices, indptr, n_cols, n_tasks)
    for t in numba.prange(n_tasks):
        lo = bounds[t]
        hi = bounds[t + 1]
        for r in range(indptr.shape[0] - 1):
            off = slot_of(codes[r], n_groups) * n_cols
            vals, cols = row_entries(data, indices, indptr, r, lo, hi, n_cols)
            for p in range(vals.shape[0]):
                v = np.float64(vals[p])
                q = 2 * (off + cols[p])
                assume(q >= 0)
                if v != 0.0:
                    acc[q] += v  # race-free: column in [lo, hi), task t's own
                    acc[q + 1] += 1.0  # race-free: column in [lo, hi), task t's own
        for s in range(n_groups + 1):
            for j in range(lo, hi):
                q = 2 * (s * n_cols + j)
                sums[s, j] = acc[q]  # race-free: j in [lo, hi), task t's own columns
                nnz[s, j] = np.int64(acc[q + 1])  # race-free: task t's own columns
    return sums, nnz


@kernel(
    signatures=signatures(_SUMS + "({f}[::1], {i}[::1], {i}[::1], {c}[::1], int64)"),
    example=_ex_csc,
)
def group_sums_csc(data, indices, indptr, codes, n_groups):
    """Per-slot float64 sums and nonzero counts of a CSC matrix (parallel over genes)."""
    n_cols = indptr.shape[0] - 1
    sums = zeros2(n_groups + 1, n_cols, np.float64)
    nnz = zeros2(n_groups + 1, n_cols, np.int64)
    for j in numba.prange(n_cols):
        for p in range(indptr[j], indptr[j + 1]):
            v = np.float64(data[p])
            if v != 0.0:
                s = slot_of(codes[indices[p]], n_groups)
                sums[s, j] += v
                nnz[s, j] += 1
    return sums, nnz


@kernel(
    signatures=signatures(_SUMS + "({f}[:, ::1], {c}[::1], int64)", sparse=False),
    example=_ex_dense,
)
def group_sums_dense(x, codes, n_groups):
    """Per-slot float64 sums and nonzero counts of a C-contiguous dense matrix."""
    n_rows, n_cols = x.shape
    sums = zeros2(n_groups + 1, n_cols, np.float64)
    nnz = zeros2(n_groups + 1, n_cols, np.int64)
    n_blocks = (n_cols + _DENSE_BLOCK - 1) // _DENSE_BLOCK
    for b in numba.prange(n_blocks):
        c0 = b * _DENSE_BLOCK
        c1 = min(c0 + _DENSE_BLOCK, n_cols)
        for r in range(n_rows):
            s = slot_of(codes[r], n_groups)
            for j in range(c0, c1):
                v = np.float64(x[r, j])
                sums[s, j] += v  # race-free: j in [c0, c1), block b's own columns
                nnz[s, j] += v != 0.0  # race-free: j in [c0, c1), block b's own columns
    return sums, nnz


# ---------------------------------------------------------------- mean / variance


@kernel(
    signatures=signatures(
        _MV + "({f}[::1], {i}[::1], {i}[::1], {c}[::1], int64, int64)"
    ),
    example=_ex_csr,
)
def group_mean_var_csr(data, indices, indptr, codes, n_groups, n_cols):
    """Per-slot mean, variance (ddof=1) and nonzero count of a canonical CSR matrix.

    Returns ``(mean, var, nnz)``, each ``(n_groups + 1, n_cols)``; bitwise equal to
    scanpy's ``aggregate(func=["mean", "var"], dof=1)``.
    """
    sizes = slot_sizes(codes, n_groups)
    mean = np.empty((n_groups + 1, n_cols))
    var = np.empty((n_groups + 1, n_cols))
    nnz = np.empty((n_groups + 1, n_cols), np.int64)
    # per (slot, column) q: acc[4q] mean, acc[4q + 1] M2, acc[4q + 2] nonzeros seen (a
    # float64 count: exact below 2**53, and `delta / n` converts it anyway): one cache
    # line per update instead of three
    acc = zeros1(4 * (n_groups + 1) * n_cols, np.float64)
    n_tasks = max(1, min(n_cols, num_threads()))  # one column range per thread
    bounds = balanced_column_blocks(indices, indptr, n_cols, n_tasks)
    for t in numba.prange(n_tasks):
        lo = bounds[t]
        hi = bounds[t + 1]
        for r in range(indptr.shape[0] - 1):
            off = slot_of(codes[r], n_groups) * n_cols
            vals, cols = row_entries(data, indices, indptr, r, lo, hi, n_cols)
            for p in range(vals.shape[0]):
                v = np.float64(vals[p])
                q = 4 * (off + cols[p])
                assume(q >= 0)
                if v != 0.0:
                    n = acc[q + 2] + 1.0
                    m, m2 = welford_step(acc[q], acc[q + 1], n, v)
                    acc[q] = m  # race-free: column in [lo, hi), task t's own
                    acc[q + 1] = m2  # race-free: column in [lo, hi), task t's own
                    acc[q + 2] = n  # race-free: column in [lo, hi), task t's own
        for j in range(lo, hi):
            for s in range(n_groups + 1):
                q = 4 * (s * n_cols + j)
                n_nz = np.int64(acc[q + 2])
                mu, sd2 = _finish_sparse(acc[q], acc[q + 1], n_nz, sizes[s])
                mean[s, j] = mu  # race-free: j in [lo, hi), task t's own columns
                var[s, j] = sd2  # race-free: j in [lo, hi), task t's own columns
                nnz[s, j] = n_nz  # race-free: j in [lo, hi), task t's own columns
    return mean, var, nnz


@kernel(
    signatures=signatures(_MV + "({f}[::1], {i}[::1], {i}[::1], {c}[::1], int64)"),
    example=_ex_csc,
)
def group_mean_var_csc(data, indices, indptr, codes, n_groups):
    """Per-slot mean, variance (ddof=1) and nonzero count of a CSC matrix.

    Bitwise equal to scanpy for CSC with sorted row indices (scanpy walks the stored
    order; so do we).
    """
    n_cols = indptr.shape[0] - 1
    sizes = slot_sizes(codes, n_groups)
    mean = zeros2(n_groups + 1, n_cols, np.float64)
    var = zeros2(n_groups + 1, n_cols, np.float64)
    nnz = zeros2(n_groups + 1, n_cols, np.int64)
    for j in numba.prange(n_cols):
        for p in range(indptr[j], indptr[j + 1]):
            v = np.float64(data[p])
            if v != 0.0:
                s = slot_of(codes[indices[p]], n_groups)
                n = nnz[s, j] + 1
                nnz[s, j] = n
                mean[s, j], var[s, j] = welford_step(mean[s, j], var[s, j], n, v)
        for s in range(n_groups + 1):
            mu, sd2 = _finish_sparse(mean[s, j], var[s, j], nnz[s, j], sizes[s])
            mean[s, j] = mu
            var[s, j] = sd2
    return mean, var, nnz


@kernel(
    signatures=signatures(_MV + "({f}[:, ::1], {c}[::1], int64)", sparse=False),
    example=_ex_dense,
)
def group_mean_var_dense(x, codes, n_groups):
    """Per-slot mean, variance (ddof=1) and nonzero count of a dense matrix.

    Welford over every cell, zeros included (``scanpy.get._kernels.mean_var_dense``).
    """
    n_rows, n_cols = x.shape
    sizes = slot_sizes(codes, n_groups)
    mean = zeros2(n_groups + 1, n_cols, np.float64)
    var = zeros2(n_groups + 1, n_cols, np.float64)
    nnz = zeros2(n_groups + 1, n_cols, np.int64)
    seen = thread_scratch(n_groups + 1, np.int64)
    n_blocks = (n_cols + _DENSE_BLOCK - 1) // _DENSE_BLOCK
    for b in numba.prange(n_blocks):
        c0 = b * _DENSE_BLOCK
        c1 = min(c0 + _DENSE_BLOCK, n_cols)
        cnt = seen[numba.get_thread_id()]
        for s in range(n_groups + 1):
            cnt[s] = 0
        for r in range(n_rows):
            s = slot_of(codes[r], n_groups)
            n = cnt[s] + 1
            cnt[s] = n
            for j in range(c0, c1):
                v = np.float64(x[r, j])
                m, m2 = welford_step(mean[s, j], var[s, j], n, v)
                mean[s, j] = m  # race-free: j in [c0, c1), block b's own columns
                var[s, j] = m2  # race-free: j in [c0, c1), block b's own columns
                nnz[s, j] += v != 0.0  # race-free: j in [c0, c1), block b's own columns
        for j in range(c0, c1):
            for s in range(n_groups + 1):
                mu, sd2 = _finish_dense(mean[s, j], var[s, j], sizes[s])
                mean[s, j] = mu  # race-free: j in [c0, c1), block b's own columns
                var[s, j] = sd2  # race-free: j in [c0, c1), block b's own columns
    return mean, var, nnz
