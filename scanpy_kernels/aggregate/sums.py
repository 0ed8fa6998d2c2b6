"""Per-group sums and nonzero counts, all groups in one pass over the matrix.

``aggregate(func="sum")`` in scanpy 1.12.4 (``scanpy.get._kernels``): each
``(group, column)`` sum is taken in float64, the group's rows in ascending order
(``agg_sum_csr``, and the indicator matrix product for a dense matrix; ``agg_sum_csc``
in each column's stored order); ``func="mean"`` is that sum over the group's rows.
``func="count_nonzero"`` sums ``X != 0`` the same way (NaN counts as nonzero).  Both
come out of one pass, bit for bit.  ``rank_genes_groups`` takes its Wilcoxon means
(logfoldchanges) and ``pts`` from here too.

Stored zeros add nothing and are not counted (adding a zero to a sum changes no bit
of it).  Rows with code ``-1`` are skipped; a group without rows gets zeros.
"""

from __future__ import annotations

import numpy as np

from .._columns import sweep_columns, sweep_csr, sweep_dense
from ..toolkit import assume, helper, kernel, matrix_signatures, zeros1
from ._examples import examples

__all__ = ["group_sums_csc", "group_sums_csr", "group_sums_dense"]

#: (sums, nnz) of the matrix, codes, n_groups
_SPARSE, _DENSE = matrix_signatures("Tuple((float64[:, ::1], int64[:, ::1]))")


# ------------------------------------------------------- one body, every format
@helper
def _sum_add(state, i, b, j, x):
    """Add a nonzero ``x`` to (group ``b``, column ``j``)'s float64 sum and count it.

    Per (group, column) q: ``acc[2q]`` the sum, ``acc[2q + 1]`` the nonzeros (a
    float64 count, exact below 2**53): one cache line per update instead of two.
    """
    acc = state[0]  # the layout: _sums_state; read by index (see .._columns)
    v = np.float64(x)
    if v != 0.0:
        q = 2 * (b * state[1] + j)
        assume(q >= 0)
        acc[q] += v  # race-free: column j is the sweep's (its block's or its own)
        acc[q + 1] += 1.0  # race-free: column j is the sweep's (its block's or its own)


@helper
def _sums_done(state, lo, hi):
    """Write the sums and counts of the columns ``lo <= j < hi``."""
    acc = state[0]
    sums = state[2]
    nnz = state[3]
    for b in range(sums.shape[0]):
        for j in range(lo, hi):
            q = 2 * (b * state[1] + j)
            sums[b, j] = acc[q]  # race-free: lo <= j < hi, the sweep's own columns
            nnz[b, j] = np.int64(acc[q + 1])  # race-free: the sweep's own columns


@helper
def _sums_state(n_groups, n_cols):
    """Return the sweep's state: ``(records, n_cols, sums, nnz)``."""
    acc = zeros1(2 * n_groups * n_cols, np.float64)
    sums = np.empty((n_groups, n_cols))
    nnz = np.empty((n_groups, n_cols), np.int64)
    return (acc, n_cols, sums, nnz)


# --------------------------------------------------------------------- kernels
@kernel(signatures=_SPARSE, example=examples("csr"))
def group_sums_csr(data, indices, indptr, n_rows, n_cols, codes, n_groups):
    """Per-group float64 sums and nonzero counts of a canonical CSR matrix."""
    st = _sums_state(n_groups, n_cols)
    sweep_csr(data, indices, indptr, n_rows, n_cols, codes, st, _sum_add, _sums_done)
    return st[2], st[3]


@kernel(signatures=_SPARSE, example=examples("csc"))
def group_sums_csc(data, indices, indptr, n_rows, n_cols, codes, n_groups):
    """Per-group float64 sums and nonzero counts of a CSC matrix (stored order)."""
    st = _sums_state(n_groups, n_cols)
    sweep_columns(data, indices, indptr, n_cols, codes, st, _sum_add, _sums_done)
    return st[2], st[3]


@kernel(signatures=_DENSE, example=examples("dense"))
def group_sums_dense(x, codes, n_groups):
    """Per-group float64 sums and nonzero counts of a C-contiguous dense matrix."""
    st = _sums_state(n_groups, x.shape[1])
    sweep_dense(x, codes, st, _sum_add, _sums_done)
    return st[2], st[3]
