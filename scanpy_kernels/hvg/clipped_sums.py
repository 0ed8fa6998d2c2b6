"""seurat_v3: per-batch sums of clipped counts and of their squares.

Reproduces scanpy 1.12.4 ``preprocessing/_highly_variable_genes.py``:

- sparse: ``_sum_and_sum_squares_clipped`` (``element = min(np.float64(data[i]),
  clip_val[idx])``; ``squared += element**2``; ``sum += element``), run on
  ``data[batch_info == b]`` (``.tocsr()`` first for CSC).  scanpy runs it serially
  because a parallel scatter into ``out[indices[i]]`` races.
- dense: ``clip_square_sum`` (``astype(float64)``, ``putmask(x > clip, clip)``,
  ``np.square(x).sum(axis=0)``, ``x.sum(axis=0)``).

Every output element is accumulated in the same order as there (increasing row within
its batch), so results are bitwise identical at any thread count: the CSR kernel is
parallel over disjoint column blocks (each scans every row and binary-searches its
column range), the CSC one over columns, the dense one over column blocks.

Batches: ``codes[i]`` is row ``i``'s batch in ``[0, n_batches)``, or ``-1`` to skip
the row; ``clip`` is ``(n_batches, n_cols)`` (row ``b``: batch ``b``'s ``clip_val``),
so the kernels take no batch count: ``(*m.args, codes, clip)``.  All batches in one
pass, no row subset copied.  Returns ``(squared_sums, sums)``, each
``(n_batches, n_cols)`` float64 (scanpy's return order).
"""

from __future__ import annotations

import numba
import numpy as np

from .._columns import (
    balanced_column_blocks,
    even_column_blocks,
    n_blocks_for,
    row_entries,
)
from ..toolkit import assume, kernel, signatures, zeros1, zeros2
from ._examples import clipped_sums_params, examples

__all__ = ["clipped_sums_csc", "clipped_sums_csr", "clipped_sums_dense"]


def _example(fmt):
    return examples(fmt, clipped_sums_params, n_groups=False)


_OUT = "UniTuple(float64[:, ::1], 2)"
#: data, indices, indptr, n_rows, n_cols, codes, clip
_SPARSE = signatures(
    _OUT + "({d}[::1], {i}[::1], {i}[::1], int64, int64, int64[::1], float64[:, ::1])"
)
#: x, codes, clip
_DENSE = signatures(_OUT + "({d}[:, ::1], int64[::1], float64[:, ::1])")


@kernel(signatures=_SPARSE, example=_example("csr"))
def clipped_sums_csr(data, indices, indptr, n_rows, n_cols, codes, clip):
    """Clipped sums of a canonical CSR matrix (sorted, in-range indices in each row)."""
    n_batches = clip.shape[0]
    # per (batch, column) q: acc[4q] squared sum, acc[4q + 1] sum, acc[4q + 2] its clip
    # value (32 bytes: an update touches one cache line; measured 1.5x over 3 arrays)
    acc = zeros1(4 * n_batches * n_cols, np.float64)
    cl = clip.ravel()
    for q in range(n_batches * n_cols):
        acc[4 * q + 2] = cl[q]
    bounds = balanced_column_blocks(indices, indptr, n_cols, n_blocks_for(n_cols, 0))
    for k in numba.prange(bounds.shape[0] - 1):
        lo = bounds[k]
        hi = bounds[k + 1]
        for i in range(n_rows if lo < hi else 0):
            b = codes[i]
            if b >= 0:
                off = b * n_cols
                vals, cols = row_entries(data, indices, indptr, i, lo, hi, n_cols)
                for p in range(vals.shape[0]):
                    q = off + cols[p]
                    assume(q >= 0)
                    # scanpy: element = min(np.float64(data[i]), clip_val[idx])
                    v = min(np.float64(vals[p]), acc[4 * q + 2])  # the clip value
                    acc[4 * q] += v * v  # race-free: column in [lo, hi), block k's own
                    acc[4 * q + 1] += v  # race-free: column in [lo, hi), block k's own
    sq = np.ascontiguousarray(acc[0::4]).reshape((n_batches, n_cols))
    s = np.ascontiguousarray(acc[1::4]).reshape((n_batches, n_cols))
    return sq, s


@kernel(signatures=_SPARSE, example=_example("csc"))
def clipped_sums_csc(data, indices, indptr, n_rows, n_cols, codes, clip):
    """Clipped sums of a canonical CSC matrix (sorted row indices in each column)."""
    n_batches = clip.shape[0]
    sq = zeros2(n_batches, n_cols, np.float64)
    s = zeros2(n_batches, n_cols, np.float64)
    for j in numba.prange(n_cols):
        for p in range(indptr[j], indptr[j + 1]):
            b = codes[indices[p]]
            if b >= 0:
                v = min(np.float64(data[p]), clip[b, j])
                sq[b, j] += v * v  # race-free: column j is the prange index
                s[b, j] += v  # race-free: column j is the prange index
    return sq, s


@kernel(signatures=_DENSE, example=_example("dense"))
def clipped_sums_dense(x, codes, clip):
    """Clipped sums of a C-contiguous dense matrix (numpy's axis-0 sums go row by row)."""
    n_rows, n_cols = x.shape
    n_batches = clip.shape[0]
    sq = zeros2(n_batches, n_cols, np.float64)
    s = zeros2(n_batches, n_cols, np.float64)
    bounds = even_column_blocks(n_cols, n_blocks_for(n_cols, 0))
    for k in numba.prange(bounds.shape[0] - 1):
        lo = bounds[k]
        hi = bounds[k + 1]
        for i in range(n_rows):
            b = codes[i]
            if b >= 0:
                for j in range(lo, hi):
                    # scanpy: np.putmask(x, x > clip_val, clip_val) on a float64 copy
                    v = np.float64(x[i, j])
                    c = clip[b, j]
                    v = min(v, c)
                    sq[b, j] += v * v  # race-free: lo <= j < hi, block k's own columns
                    s[b, j] += v  # race-free: lo <= j < hi, block k's own columns
    return sq, s
