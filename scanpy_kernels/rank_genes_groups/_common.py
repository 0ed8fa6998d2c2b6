"""Helpers shared by the rank_genes_groups kernels: slots, verifier examples.

Codes follow the one rule (:mod:`.._groups`): int64, a cell's selected group in
``[0, n_groups)`` or ``-1`` (in no selected group: scanpy's "remainder").  The
per-group statistics (:mod:`..aggregate`) skip code ``-1``; the
drivers give them the remainder as group ``n_groups`` (codes mapped, ``n_groups + 1``
groups), so their outputs have ``n_groups + 1`` rows, the remainder last.  The
Wilcoxon kernels rank the remainder's cells vs rest and leave them out vs a reference:
inside they put code ``-1`` into slot ``n_groups`` (:func:`slot_of`).

CSR kernels never transpose the matrix: each ``prange`` task owns a contiguous column
range (:mod:`.._columns`) and sweeps every row's entries in that range (found by
binary search, or kept by a cursor per row between cache blocks), rows in ascending
order.  Outputs of a column are thus accumulated in row order, as scanpy does, at any
thread count.  This needs each row's column indices sorted (canonical CSR: sorted, no
duplicates), which the frontend guarantees.
"""

from __future__ import annotations

import numpy as np

from ..toolkit import helper, matrix_examples, routine, zeros1

__all__ = ["EXAMPLE_GROUPS", "examples", "slot_of", "slot_sizes"]


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


def _cases(rng):
    """Make a small log-normal-ish matrix with ties, negatives and an all-zero column.

    Group codes with ``-1`` cells, in f32/int32 and f64/int64.
    """
    n_cells, n_genes = 150, 37
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = np.round(rng.normal(1.0, 1.0, (n_cells, n_genes)), 1)
        x[rng.random(x.shape) < 0.7] = 0.0
        x[:, 3] = 0.0
        codes = rng.integers(-1, EXAMPLE_GROUPS, n_cells).astype(np.int64)
        yield x, dtype, index, codes, EXAMPLE_GROUPS


def examples(fmt: str, *params: tuple):
    """Make a kernel's ``example``: ``(*matrix_args, codes, n_groups, *p)`` per ``p``.

    ``params``: the parameter tuples after ``n_groups`` (default: none).
    """
    return matrix_examples(_cases, fmt, lambda *_: list(params) or [()])
