"""seurat_v3 with ``batch_key``: per-batch mean and variance as ``sc.get.aggregate``.

scanpy 1.12.4 computes the per-batch moments of seurat_v3 with
``aggregate(adata, by=batch, func=["mean", "var"])``, i.e. ``get/_kernels.py``
``mean_var_{csr,csc,dense}``: Welford's online update per (batch, gene) over the batch's
rows in increasing order (sparse: over stored values only, then merged with the block
of implicit zeros), then ``var /= n``.  These kernels reproduce that bitwise, for all
batches in one pass (CSR: disjoint column blocks; CSC: columns; dense: column blocks),
while scanpy parallelises over batches only.  Per (batch, gene)::

    n += 1; delta = x - mean; mean += delta / n; m2 += delta * (x - mean)
    sparse, k = n_obs - n_nz implicit zeros (k > 0 and n_nz > 0):
        mean_a = mean; mean = mean_a * n_nz / n_obs
        m2 += mean_a * mean_a * n_nz * k / n_obs
    var = m2 / n_obs                 (a batch without rows keeps 0, 0)

Returns ``(mean, var)`` ``(n_batches, n_cols)`` float64 with ``dof=0``; the frontend
applies ``Aggregate.mean_var``'s ``var *= (counts / np.where(counts > dof, counts - dof,
np.nan))[:, None]`` in numpy.  ``codes``: batch per row, ``-1`` = not aggregated.
"""

from __future__ import annotations

import numba
import numpy as np

from .._columns import balanced_column_blocks, even_column_blocks, row_entries
from .._welford import merge_zeros, welford_step
from ..toolkit import assume, kernel, zeros1, zeros2
from ._common import batch_positions, n_blocks_for, signatures
from ._examples import welford_examples

__all__ = ["welford_mean_var_csc", "welford_mean_var_csr", "welford_mean_var_dense"]

_OUT = "UniTuple(float64[:, ::1], 2)"
#: data, indices, indptr, n_cols, codes, n_batches
_SPARSE = signatures(_OUT + "({d}[::1], {i}[::1], {i}[::1], int64, int64[::1], int64)")
#: x, codes, n_batches
_DENSE = signatures(_OUT + "({d}[:, ::1], int64[::1], int64)", index=False)


@kernel(signatures=_SPARSE, example=welford_examples("csr"))
def welford_mean_var_csr(data, indices, indptr, n_cols, codes, n_batches):
    """Per-batch Welford mean/var (dof 0) of a canonical CSR matrix."""
    n_rows = indptr.shape[0] - 1
    _, n_obs = batch_positions(codes, n_batches)
    mean = np.empty((n_batches, n_cols))
    m2 = np.empty((n_batches, n_cols))
    # per (batch, column) q: acc[4q] mean, acc[4q + 1] M2, acc[4q + 2] nonzeros seen
    # (a float64 count: exact below 2**53, and `delta / n` converts it anyway); one
    # cache line per update instead of three
    acc = zeros1(4 * n_batches * n_cols, np.float64)
    bounds = balanced_column_blocks(indices, indptr, n_cols, n_blocks_for(n_cols, 0))
    for k in numba.prange(bounds.shape[0] - 1):
        lo = bounds[k]
        hi = bounds[k + 1]
        for i in range(n_rows if lo < hi else 0):
            b = codes[i]
            if b >= 0:
                vals, cols = row_entries(data, indices, indptr, i, lo, hi, n_cols)
                off = b * n_cols
                for p in range(vals.shape[0]):
                    q = 4 * (off + cols[p])
                    assume(q >= 0)
                    value = np.float64(vals[p])
                    n = acc[q + 2] + 1.0
                    m, v = welford_step(acc[q], acc[q + 1], n, value)
                    acc[q] = m  # race-free: column in [lo, hi), block k's own
                    acc[q + 1] = v  # race-free: column in [lo, hi), block k's own
                    acc[q + 2] = n  # race-free: column in [lo, hi), block k's own
        for b in range(n_batches):
            for j in range(lo, hi):
                q = 4 * (b * n_cols + j)
                m, v = merge_zeros(acc[q], acc[q + 1], np.int64(acc[q + 2]), n_obs[b])
                mean[b, j] = m  # race-free: lo <= j < hi, block k's own columns
                m2[b, j] = v  # race-free: lo <= j < hi, block k's own columns
    return mean, m2


@kernel(signatures=_SPARSE, example=welford_examples("csc"))
def welford_mean_var_csc(data, indices, indptr, n_cols, codes, n_batches):
    """Per-batch Welford mean/var (dof 0) of a CSC matrix (sorted rows per column)."""
    _, n_obs = batch_positions(codes, n_batches)
    mean = zeros2(n_batches, n_cols, np.float64)
    m2 = zeros2(n_batches, n_cols, np.float64)
    n_nz = zeros2(n_batches, n_cols, np.int64)
    for j in numba.prange(n_cols):
        for p in range(indptr[j], indptr[j + 1]):
            b = codes[indices[p]]
            if b >= 0:
                value = np.float64(data[p])
                n = n_nz[b, j] + 1
                n_nz[b, j] = n  # race-free: column j is the prange index
                m, v = welford_step(mean[b, j], m2[b, j], n, value)
                mean[b, j] = m  # race-free: column j is the prange index
                m2[b, j] = v  # race-free: column j is the prange index
        for b in range(n_batches):
            m, v = merge_zeros(mean[b, j], m2[b, j], n_nz[b, j], n_obs[b])
            mean[b, j] = m  # race-free: column j is the prange index
            m2[b, j] = v  # race-free: column j is the prange index
    return mean, m2


@kernel(signatures=_DENSE, example=welford_examples("dense"))
def welford_mean_var_dense(x, codes, n_batches):
    """Per-batch Welford mean/var (dof 0) of a C-contiguous dense matrix (every value)."""
    n_rows, n_cols = x.shape
    pos, n_obs = batch_positions(codes, n_batches)
    mean = zeros2(n_batches, n_cols, np.float64)
    m2 = zeros2(n_batches, n_cols, np.float64)
    bounds = even_column_blocks(n_cols, n_blocks_for(n_cols, 0))
    for k in numba.prange(bounds.shape[0] - 1):
        lo = bounds[k]
        hi = bounds[k + 1]
        for i in range(n_rows):
            b = codes[i]
            if b >= 0:
                n = pos[i] + 1  # scanpy: n += 1 per row of the batch
                for j in range(lo, hi):
                    value = np.float64(x[i, j])
                    m, v = welford_step(mean[b, j], m2[b, j], n, value)
                    mean[b, j] = m  # race-free: block k's own columns
                    m2[b, j] = v  # race-free: block k's own columns
        for b in range(n_batches):
            if n_obs[b] > 0:
                for j in range(lo, hi):
                    m2[b, j] /= n_obs[b]  # race-free: block k's own columns
    return mean, m2
