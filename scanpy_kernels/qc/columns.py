"""Per-gene QC sums: ``describe_var``'s ``total`` and cell counts.

Reproduces scanpy 1.12.4 ``describe_var`` on a canonical CSR matrix (scanpy's
``eliminate_zeros()`` and ``count_nonzero``'s ``sum_duplicates()`` ran first) or a
C-contiguous array (``np.sum(axis=0)`` adds the rows one by one, ``count_nonzero``):

- ``total_counts`` (and ``mean_counts = total / n_cells``): ``stats.sum(x, axis=0)``,
  i.e. scipy's ``ones @ x``, ``csc_matvec`` over the transpose: each column accumulates
  ``data * 1`` in row order, in the data dtype;
- ``n_cells_by_counts``: ``axis_nnz(x, axis=0)``, ``np.bincount`` of the indices of
  the stored values ``!= 0`` (int64).

A column sweep (:mod:`.._columns`): parallel over disjoint column blocks, each block
scanning every row in order, so each column is summed in row order at any thread
count.  The kernels take ``(*m.args)`` and return ``(sums, nonzero)``: ``(n_cols,)``
in the data dtype and ``(n_cols,)`` int64.
"""

from __future__ import annotations

import numpy as np

from .._columns import no_finish, sweep_csr, sweep_dense
from ..toolkit import helper, kernel, matrix_args, signatures

__all__ = ["qc_columns_csr", "qc_columns_dense"]

#: data, indices, indptr, n_rows, n_cols
_SIGS = signatures(
    "Tuple(({d}[::1], int64[::1]))({d}[::1], {i}[::1], {i}[::1], int64, int64)"
)


#: x
_DENSE_SIGS = signatures("Tuple(({d}[::1], int64[::1]))({d}[:, ::1])")


def _examples(rng, fmt="csr"):
    out = []
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = rng.negative_binomial(1, 0.4, (120, 70)).astype(np.float64) * 0.37
        x[rng.random(x.shape) < 0.6] = 0.0
        x[:, 4] = 0.0  # an empty column
        out.append(matrix_args(x, fmt, dtype, index))
    return out


@helper
def _add(state, i, b, j, x):
    """Add row ``i``'s value ``x`` of column ``j`` (``csc_matvec``: ``y[j] += x * 1``)."""
    state[0][j] += x  # race-free: column j is this block's
    state[1][j] += x != 0  # race-free: column j is this block's


@kernel(signatures=_SIGS, example=_examples)
def qc_columns_csr(data, indices, indptr, n_rows, n_cols):
    """Column sums (row order, data dtype) and nonzero counts of a canonical CSR matrix."""
    sums = np.zeros(n_cols, data.dtype)
    nonzero = np.zeros(n_cols, np.int64)
    codes = np.zeros(n_rows, np.int64)  # every row, one group
    state = (sums, nonzero)
    sweep_csr(data, indices, indptr, n_rows, n_cols, codes, state, _add, no_finish)
    return sums, nonzero


@kernel(signatures=_DENSE_SIGS, example=lambda rng: _examples(rng, "dense"))
def qc_columns_dense(x):
    """Column sums (row order, as ``np.sum(axis=0)``) and nonzero counts of an array."""
    n_rows, n_cols = x.shape
    sums = np.zeros(n_cols, x.dtype)
    nonzero = np.zeros(n_cols, np.int64)
    codes = np.zeros(n_rows, np.int64)  # every row, one group
    sweep_dense(x, codes, (sums, nonzero), _add, no_finish)
    return sums, nonzero
