"""Helpers shared by the rank_genes_groups kernels: slots, signatures, CSR sweeps.

Cells are assigned to *slots* by a group-code array ``codes`` (int32 or int64):
code ``g`` in ``[0, n_groups)`` puts a cell in slot ``g``, code ``-1`` in the extra
slot ``n_groups`` (cells in no selected group: scanpy's "remainder" group).  Every
per-group output therefore has ``n_groups + 1`` rows.

CSR kernels never transpose the matrix: each ``prange`` task owns a contiguous column
range and sweeps every row's entries in that range (found by binary search, or kept
by a cursor per row between cache blocks), rows in ascending order.  Outputs of a
column are thus accumulated in row order, as scanpy does, at any thread count.  This
needs each row's column indices sorted (canonical CSR: sorted, no duplicates), which
the frontend guarantees.
"""

from __future__ import annotations

from itertools import product

import numpy as np
from numba.extending import register_jitable
from scipy import sparse

from ..toolkit import helper

#: serial set-up code that kernels call outside their parallel loops: compiled once per
#: process and argument types (not inlined: inlining it into every kernel and
#: signature costs compile time, and it holds no hints)
setup = register_jitable

__all__ = [
    "column_ranges",
    "lower_bound",
    "row_range",
    "signatures",
    "slot_of",
    "slot_sizes",
    "zeros_1d",
    "zeros_2d",
]

_DATA = ("float32", "float64")
_INDEX = ("int32", "int64")


def signatures(template: str, *, sparse: bool = True) -> list[str]:
    """Numba signature strings: every data dtype x index dtype (sparse) x code dtype.

    ``template`` uses ``{f}`` (data), ``{i}`` (indices/indptr, one dtype as in scipy)
    and ``{c}`` (group codes).
    """
    index = _INDEX if sparse else ("int64",)
    return [template.format(f=f, i=i, c=c) for f, i, c in product(_DATA, index, _INDEX)]


@helper
def zeros_1d(n, dtype):
    """``np.zeros`` written as a loop: in a parallel kernel ``np.zeros`` becomes a
    parfor of its own (one more outlined gufunc to compile, for a trivial fill)."""
    a = np.empty(n, dtype)
    for i in range(n):
        a[i] = 0
    return a


@helper
def zeros_2d(n, m, dtype):
    """``np.zeros((n, m), dtype)`` as a serial loop (see :func:`zeros_1d`)."""
    a = np.empty((n, m), dtype)
    for i in range(n):
        for j in range(m):
            a[i, j] = 0
    return a


@helper
def slot_of(code, n_groups):
    """Slot of a cell: its group code, or ``n_groups`` for code -1 (no selected group)."""
    s = np.intp(code)
    return s if s >= 0 else np.intp(n_groups)


@setup
def slot_sizes(codes, n_groups):
    """Cells per slot, ``(n_groups + 1,)`` int64 (serial: O(n_cells), trivial)."""
    sizes = zeros_1d(n_groups + 1, np.int64)
    for r in range(codes.shape[0]):
        sizes[slot_of(codes[r], n_groups)] += 1
    return sizes


@helper
def lower_bound(indices, lo, hi, target):
    """First position ``p`` in ``[lo, hi)`` with ``indices[p] >= target`` (sorted run)."""
    a = np.intp(lo)  # locals, not the parameters: reassigned inlined arguments
    b = np.intp(hi)  # make numba warn (NumbaIRAssumptionWarning)
    while a < b:
        mid = (a + b) >> 1
        if indices[mid] < target:
            a = mid + 1
        else:
            b = mid
    return a


@setup
def column_ranges(indices, indptr, n_cols, n_tasks):
    """Split ``[0, n_cols)`` into ``n_tasks`` contiguous ranges of ~equal nnz.

    The column counts are estimated from ~2048 evenly spaced rows (a few ms), enough
    to balance threads without a pass over the whole matrix.  Returns the
    ``n_tasks + 1`` boundaries.
    """
    n_rows = indptr.shape[0] - 1
    step = max(1, n_rows // 2048)
    counts = zeros_1d(n_cols, np.int64)
    total = 0
    for r in range(0, n_rows, step):
        for p in range(indptr[r], indptr[r + 1]):
            counts[indices[p]] += 1
        total += indptr[r + 1] - indptr[r]
    bounds = np.empty(n_tasks + 1, np.int64)
    for t in range(n_tasks + 1):
        bounds[t] = n_cols
    bounds[0] = 0
    t = 1
    done = 0
    for c in range(n_cols):
        while t < n_tasks and done * n_tasks >= t * total:
            bounds[t] = c
            t += 1
        done += counts[c]
    return bounds


@helper
def row_range(indices, indptr, r, lo, hi, n_cols):
    """Positions ``[start, stop)`` of row ``r``'s entries in columns ``[lo, hi)``
    (binary searches, skipped at the matrix edges)."""
    start = indptr[r]
    stop = indptr[r + 1]
    if hi < n_cols:
        stop = lower_bound(indices, start, stop, hi)
    if lo > 0:
        start = lower_bound(indices, start, stop, lo)
    return np.intp(start), np.intp(stop)


# ------------------------------------------------------------- verifier examples

EXAMPLE_GROUPS = 4


def example_args(rng, fmt: str, *extra) -> list[tuple]:
    """Inputs for the verifier's 1-vs-all-threads check: ``fmt`` in csr/csc/dense.

    A small log-normal-ish matrix with ties, negatives and an all-zero column, group
    codes with ``-1`` cells, in f32/int32 and f64/int64 (codes int32 / int64).
    Argument order: components, codes, ``n_groups``, ``*extra``, then ``n_cols`` for CSR.
    """
    n_cells, n_genes = 150, 37
    out = []
    for dtype, index, code in ((np.float32, np.int32, np.int32), (np.float64, np.int64, np.int64)):
        x = np.round(rng.normal(1.0, 1.0, (n_cells, n_genes)), 1)
        x[rng.random(x.shape) < 0.7] = 0.0
        x[:, 3] = 0.0
        x = x.astype(dtype)
        codes = rng.integers(-1, EXAMPLE_GROUPS, n_cells).astype(code)
        if fmt == "dense":
            out.append((np.ascontiguousarray(x), codes, EXAMPLE_GROUPS, *extra))
            continue
        m = sparse.csr_matrix(x) if fmt == "csr" else sparse.csc_matrix(x)
        comps = (m.data, m.indices.astype(index), m.indptr.astype(index), codes, EXAMPLE_GROUPS, *extra)
        out.append((*comps, n_genes) if fmt == "csr" else comps)
    return out
