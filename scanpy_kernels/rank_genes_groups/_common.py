"""Helpers shared by the rank_genes_groups kernels: slots, signatures, CSR sweeps.

Cells are assigned to *slots* by a group-code array ``codes`` (int32 or int64):
code ``g`` in ``[0, n_groups)`` puts a cell in slot ``g``, code ``-1`` in the extra
slot ``n_groups`` (cells in no selected group: scanpy's "remainder" group).  Every
per-group output therefore has ``n_groups + 1`` rows.

CSR kernels never transpose the matrix: each ``prange`` task owns a contiguous column
range (:mod:`.._columns`) and sweeps every row's entries in that range (found by
binary search, or kept by a cursor per row between cache blocks), rows in ascending
order.  Outputs of a column are thus accumulated in row order, as scanpy does, at any
thread count.  This needs each row's column indices sorted (canonical CSR: sorted, no
duplicates), which the frontend guarantees.
"""

from __future__ import annotations

from itertools import product

import numpy as np
from scipy import sparse

from ..toolkit import helper, routine, zeros1

__all__ = ["example_args", "signatures", "slot_of", "slot_sizes"]

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
def slot_of(code, n_groups):
    """Slot of a cell: its group code, or ``n_groups`` for code -1 (no selected group)."""
    s = np.intp(code)
    return s if s >= 0 else np.intp(n_groups)


@routine
def slot_sizes(codes, n_groups):
    """Cells per slot, ``(n_groups + 1,)`` int64 (serial: O(n_cells), trivial)."""
    sizes = zeros1(n_groups + 1, np.int64)
    for r in range(codes.shape[0]):
        sizes[slot_of(codes[r], n_groups)] += 1
    return sizes


# ------------------------------------------------------------- verifier examples

EXAMPLE_GROUPS = 4


def example_args(rng, fmt: str, *extra) -> list[tuple]:
    """Make inputs for the verifier's 1-vs-all-threads check: ``fmt`` in csr/csc/dense.

    A small log-normal-ish matrix with ties, negatives and an all-zero column, group
    codes with ``-1`` cells, in f32/int32 and f64/int64 (codes int32 / int64).
    Argument order: components, codes, ``n_groups``, ``*extra``, then ``n_cols`` for CSR.
    """
    n_cells, n_genes = 150, 37
    out = []
    for dtype, index, code in (
        (np.float32, np.int32, np.int32),
        (np.float64, np.int64, np.int64),
    ):
        x = np.round(rng.normal(1.0, 1.0, (n_cells, n_genes)), 1)
        x[rng.random(x.shape) < 0.7] = 0.0
        x[:, 3] = 0.0
        x = x.astype(dtype)
        codes = rng.integers(-1, EXAMPLE_GROUPS, n_cells).astype(code)
        if fmt == "dense":
            out.append((np.ascontiguousarray(x), codes, EXAMPLE_GROUPS, *extra))
            continue
        m = sparse.csr_matrix(x) if fmt == "csr" else sparse.csc_matrix(x)
        comps = (
            m.data,
            m.indices.astype(index),
            m.indptr.astype(index),
            codes,
            EXAMPLE_GROUPS,
            *extra,
        )
        out.append((*comps, n_genes) if fmt == "csr" else comps)
    return out
