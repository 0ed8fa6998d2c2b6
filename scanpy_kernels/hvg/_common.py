"""Helpers shared by the HVG kernels: column blocks of a CSR matrix, batch codes.

The CSR kernels here are parallel over *contiguous column blocks*: every block scans
all rows in order and touches only its own columns, so each output column is summed
in row order (as scanpy's serial loops do) and no two iterations write one element.
"""

from __future__ import annotations

import numpy as np
from numba.extending import register_jitable

from ..toolkit import helper, num_threads

__all__ = [
    "DATA",
    "INDEX",
    "balanced_column_blocks",
    "batch_positions",
    "even_column_blocks",
    "lower_bound",
    "routine",
    "row_span",
    "signatures",
    "zeros1",
    "zeros2",
    "zeros3",
]

DATA = ("float32", "float64")
INDEX = ("int32", "int64")

#: bytes of per-block scratch above which a parallel kernel uses more, smaller blocks
SCRATCH_BYTES = 1 << 20
#: rows sampled to estimate the nnz of each column
SAMPLE_ROWS = 1024


def routine(fn):
    """A serial helper compiled as its own function, with the kernels' error model.

    Not inlined into the kernel's numba IR (unlike ``toolkit.helper``): inlining
    loop-heavy helpers into parallel kernels multiplies compile time.
    """
    return register_jitable(error_model="numpy", boundscheck=False)(fn)


def signatures(template: str, *, index: bool = True) -> list[str]:
    """``template`` with ``{d}`` (data) and ``{i}`` (index) filled for every combination."""
    return [template.format(d=d, i=i) for d in DATA for i in (INDEX if index else ("",))]


@helper
def n_blocks_for(n_cols, scratch_bytes_per_col):
    """Column blocks: one per thread (1 serially); more if a block's scratch would
    exceed ``SCRATCH_BYTES``.

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
    """
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


@helper
def row_span(indices, indptr, i, lo, hi, n_cols):
    """``(p0, p1)``: the stored entries of row ``i`` with ``lo <= column < hi``."""
    start = indptr[i]
    stop = indptr[i + 1]
    p0 = lower_bound(indices, start, stop, lo) if lo > 0 else start
    p1 = lower_bound(indices, p0, stop, hi) if hi < n_cols else stop
    return p0, p1


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


@routine
def batch_positions(codes, n_batches):
    """Per row its position inside its batch, and the rows per batch (code < 0: none)."""
    pos = np.empty(codes.shape[0], np.int64)
    counts = np.zeros(n_batches, np.int64)
    for i in range(codes.shape[0]):
        b = codes[i]
        if b >= 0:
            pos[i] = counts[b]
            counts[b] += 1
        else:
            pos[i] = -1
    return pos, counts


# Allocation routines.  ``np.zeros`` in a parallel kernel's body becomes a parfor of
# its own (an outlined, separately compiled gufunc: ~1 s of compile time each); these
# are compiled once, serially, and called from the kernels.
@routine
def zeros1(n, dtype):
    """Zeroed ``(n,)`` array."""
    return np.zeros(n, dtype)


@routine
def zeros2(n, m, dtype):
    """Zeroed ``(n, m)`` array."""
    return np.zeros((n, m), dtype)


@routine
def zeros3(n, m, k, dtype):
    """Zeroed ``(n, m, k)`` array."""
    return np.zeros((n, m, k), dtype)
