"""Sweeping a matrix by contiguous column blocks or by columns (shared by kernel families).

A CSR kernel that is parallel over *disjoint column blocks* lets every block scan all
rows, group by group and each group's in order, and touch only its own columns: each
(group, column) output is accumulated in row order (as scanpy's serial loops do), at
any thread count, and no two iterations write one element.  Each row's block is
found by binary search, which needs sorted column indices (canonical CSR),
guaranteed by the frontend.  :func:`n_blocks_for`
counts the blocks of such a sweep (one per thread).

One kernel body serves every format: :func:`sweep_csr` and :func:`sweep_dense` run
that sweep (:func:`sweep_blocks`) over a CSR matrix or a C-contiguous dense array
(every column of a block is an entry), :func:`sweep_columns` sweeps a CSC matrix
column by column.  Both call the same
``update(state, row, group, column, value)`` for each entry in the same order per
output element (row order) and ``finish(state, lo, hi)`` once the columns
``lo <= j < hi`` are complete.

A serial kernel over the columns ``lo <= j < hi`` (a driver splits the columns over
threads, ``toolkit.split_range``) runs the same sweeps over one block:
:func:`sweep_blocks` with :func:`one_block`, or :func:`sweep_column_range` (CSC).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

from ._groups import rows_by_group
from .toolkit import helper, num_threads, routine, split_range

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._input import Matrix

__all__ = [
    "SPLIT_VALUES",
    "balanced_column_blocks",
    "column_range",
    "csr_entries",
    "dense_entries",
    "even_column_blocks",
    "lower_bound",
    "n_blocks_for",
    "no_finish",
    "one_block",
    "row_entries",
    "row_span",
    "split_columns",
    "sweep_blocks",
    "sweep_column_range",
    "sweep_columns",
    "sweep_csr",
    "sweep_dense",
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


# ------------------------------------------------------- one body, every format
# The format is chosen by the function a kernel calls (sweep_csr, sweep_dense,
# sweep_columns); the entries of a row come from the accessor it passes on.  Every
# function here, the update and the finish are helpers: inlined into the kernel's
# untyped IR, so the kernel compiles one loop nest for its format.  Inside them,
# read a tuple argument (``state``, ``mat``) by index, never by unpacking or as a
# NamedTuple: numba 0.68 lowers ``a, b = state`` in a prange body (parallel build)
# so that the stores into ``a`` and ``b`` are lost (tests/test_hvg_kernels.py checks
# every format of every kernel against its reference).


@routine
def column_range(n_cols):
    """Return ``arange(n_cols)``, a dense row's columns.

    A routine: in a parallel kernel's body ``np.arange`` would become a parfor,
    compiled on its own.
    """
    return np.arange(n_cols)


@helper
def csr_entries(mat, i, lo, hi):
    """Row ``i``'s stored ``(values, columns)`` with ``lo <= column < hi`` (slices).

    ``mat``: the CSR components ``(data, indices, indptr, n_rows, n_cols)``.
    """
    return row_entries(mat[0], mat[1], mat[2], i, lo, hi, mat[4])


@helper
def dense_entries(mat, i, lo, hi):
    """Row ``i``'s ``(values, columns)`` of the columns ``lo <= column < hi`` (views).

    ``mat``: ``(x, arange(n_cols))``; every column of a block is an entry.
    """
    return mat[0][i, lo:hi], mat[1][lo:hi]


@helper
def no_finish(state, lo, hi):
    """Finish nothing: the outputs are complete after the updates."""


@helper
def sweep_blocks(mat, bounds, codes, state, entries, update, finish):
    """Parallel over column blocks: each block visits the rows of a group in order.

    For every row ``i`` with ``codes[i] >= 0`` and each of its ``entries`` in the
    block ``bounds[k] <= column < bounds[k + 1]``: ``update(state, i, codes[i],
    column, value)``; then ``finish(state, lo, hi)``.  The rows come group by group
    (:func:`.._groups.rows_by_group`), so every ``(group, column)`` sees its rows in
    row order at any thread count; ``update`` must keep one accumulator per
    ``(group, column)`` (all do: nothing is shared across groups).
    """
    rows = rows_by_group(codes)
    for k in numba.prange(bounds.shape[0] - 1):
        lo = bounds[k]
        hi = bounds[k + 1]
        for r in range(rows.shape[0] if lo < hi else 0):
            i = rows[r]
            vals, cols = entries(mat, i, lo, hi)
            for p in range(vals.shape[0]):
                update(state, i, codes[i], cols[p], vals[p])
        finish(state, lo, hi)


@helper
def sweep_csr(data, indices, indptr, n_rows, n_cols, codes, state, update, finish):
    """:func:`sweep_blocks` over a canonical CSR matrix: blocks balanced by nnz."""
    bounds = balanced_column_blocks(indices, indptr, n_cols, n_blocks_for(n_cols, 0))
    mat = (data, indices, indptr, n_rows, n_cols)
    sweep_blocks(mat, bounds, codes, state, csr_entries, update, finish)


@helper
def sweep_dense(x, codes, state, update, finish):
    """:func:`sweep_blocks` over a C-contiguous dense matrix: even blocks."""
    n_cols = x.shape[1]
    bounds = even_column_blocks(n_cols, n_blocks_for(n_cols, 0))
    mat = (x, column_range(n_cols))
    sweep_blocks(mat, bounds, codes, state, dense_entries, update, finish)


@helper
def sweep_columns(data, indices, indptr, n_cols, codes, state, update, finish):
    """Parallel over the columns of a CSC matrix, each in stored order.

    ``update(state, i, codes[i], j, value)`` for each stored entry of column ``j``
    whose row ``i`` has ``codes[i] >= 0``, then ``finish(state, j, j + 1)``.
    """
    for j in numba.prange(n_cols):
        vals = data[indptr[j] : indptr[j + 1]]
        rows = indices[indptr[j] : indptr[j + 1]]
        for p in range(vals.shape[0]):
            b = codes[rows[p]]
            if b >= 0:
                update(state, rows[p], b, j, vals[p])
        finish(state, j, j + 1)


@routine
def one_block(lo, hi):
    """Return the bounds ``[lo, hi]`` of one column block (a ranged serial sweep)."""
    bounds = np.empty(2, np.int64)
    bounds[0] = lo
    bounds[1] = hi
    return bounds


@helper
def sweep_column_range(data, indices, indptr, lo, hi, codes, state, update, finish):
    """:func:`sweep_columns` over the columns ``lo <= j < hi`` only, serially."""
    for j in range(lo, hi):
        for p in range(indptr[j], indptr[j + 1]):
            b = codes[indices[p]]
            if b >= 0:
                update(state, indices[p], b, j, data[p])
    finish(state, lo, hi)


#: stored values per range of a split sweep, at least (a hand-off costs ~0.1-0.5 ms)
SPLIT_VALUES = 1 << 18


def split_columns(fn: Callable[[int, int], object], m: Matrix) -> None:
    """Run ``fn(lo, hi)`` over ranges of ``m``'s columns, one per allowed thread.

    For serial ranged kernels (:func:`one_block`, :func:`sweep_column_range`):
    ``toolkit.split_range`` with ranges of at least ~:data:`SPLIT_VALUES` stored
    values on average, so a small matrix stays on the calling thread.
    """
    n_cols = m.shape[1]
    per_col = max(m.data.size // max(n_cols, 1), 1)
    split_range(fn, n_cols, min_size=max(SPLIT_VALUES // per_col, 1))
