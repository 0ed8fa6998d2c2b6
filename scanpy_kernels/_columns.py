"""Sweeping a canonical CSR matrix by contiguous column blocks (shared by kernel families).

A CSR kernel that is parallel over *disjoint column blocks* lets every block scan all
rows in order and touch only its own columns: each output column is accumulated in
row order (as scanpy's serial loops do), at any thread count, and no two iterations
write one element.  Each row's block is found by binary search, which needs sorted
column indices (canonical CSR), guaranteed by the frontend.  :func:`n_blocks_for`
counts the blocks of such a sweep (one per thread).
"""

from __future__ import annotations

import numpy as np

from .toolkit import helper, num_threads, routine

__all__ = [
    "balanced_column_blocks",
    "even_column_blocks",
    "lower_bound",
    "n_blocks_for",
    "row_entries",
    "row_span",
]

#: rows sampled to estimate the nnz of each column
SAMPLE_ROWS = 1024
#: bytes of per-block scratch above which a parallel kernel uses more, smaller blocks
SCRATCH_BYTES = 1 << 20


@helper
def n_blocks_for(n_cols, scratch_bytes_per_col):
    """Count column blocks: one per thread (1 serially), more for big scratch.

    More blocks than threads only if a block's scratch would exceed ``SCRATCH_BYTES``.

    One contiguous block per thread is fastest: every block reads a slice of every
    row, and thinner slices stream worse (measured: 8 blocks on one thread ~1.4x
    slower than 1).  numba splits a prange statically, so more blocks would not
    balance load either; the blocks are balanced by (sampled) nnz instead.
    """
    k = num_threads()
    if k > 1:
        need = (n_cols * scratch_bytes_per_col + SCRATCH_BYTES - 1) // SCRATCH_BYTES
        k = max(k, need)
    return max(1, min(k, n_cols))


@routine
def lower_bound(indices, start, stop, value):
    """First position ``p`` in ``[start, stop)`` with ``indices[p] >= value`` (sorted run)."""
    lo = start
    hi = stop
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[mid] < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


@helper
def row_span(indices, indptr, i, lo, hi, n_cols):
    """Return ``(p0, p1)``: the stored entries of row ``i`` with ``lo <= column < hi``.

    Binary searches, skipped at the matrix edges.
    """
    start = indptr[i]
    stop = indptr[i + 1]
    p0 = lower_bound(indices, start, stop, lo) if lo > 0 else start
    p1 = lower_bound(indices, p0, stop, hi) if hi < n_cols else stop
    return np.intp(p0), np.intp(p1)


@helper
def row_entries(data, indices, indptr, i, lo, hi, n_cols):
    """Return ``(values, columns)`` of row ``i`` with ``lo <= column < hi``, as slices.

    Loops over the slices index from 0, so numba emits no negative-index wraparound
    test (which makes LLVM turn vectorized loads into gathers; docs/kernel-guide.md).
    """
    p0, p1 = row_span(indices, indptr, i, lo, hi, n_cols)
    return data[p0:p1], indices[p0:p1]


@routine
def even_column_blocks(n_cols, k):
    """``k + 1`` bounds splitting ``[0, n_cols)`` into ``k`` near-equal column ranges."""
    bounds = np.empty(k + 1, np.int64)
    for b in range(k + 1):
        bounds[b] = b * n_cols // k
    return bounds


@routine
def balanced_column_blocks(indices, indptr, n_cols, k):
    """``k + 1`` column bounds with about equal nnz per block (from sampled rows).

    Only speed depends on the split: each column is still summed in row order.
    One block (a serial call) needs no sample.
    """
    if k <= 1:
        return even_column_blocks(n_cols, 1)
    n_rows = indptr.shape[0] - 1
    step = max(1, n_rows // SAMPLE_ROWS)
    cum = np.ones(n_cols + 1, np.float64)  # +1 per column: empty columns cost a little
    cum[0] = 0.0
    for i in range(0, n_rows, step):
        for p in range(indptr[i], indptr[i + 1]):
            cum[indices[p] + 1] += 1.0
    for j in range(n_cols):
        cum[j + 1] += cum[j]
    bounds = np.empty(k + 1, np.int64)
    bounds[0] = 0
    j = 0
    for b in range(1, k):
        target = cum[n_cols] * b / k
        while j < n_cols and cum[j] < target:
            j += 1
        bounds[b] = j
    bounds[k] = n_cols
    return bounds
