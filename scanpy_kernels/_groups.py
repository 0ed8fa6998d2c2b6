"""Group codes, the one rule every kernel family follows.

A kernel over a matrix takes ``codes, n_groups`` after the matrix
(``kernel(*m.args, codes, n_groups, ...)``): ``codes`` is C-contiguous **int64**, one
per row (cell), row ``i``'s group in ``[0, n_groups)`` or ``-1`` (in no group).
Kernels of per-group statistics skip rows with code ``-1`` and return
``n_groups`` rows; a driver that needs a statistic of those rows too (scanpy's
"remainder" of ``rank_genes_groups``) maps ``-1`` to ``n_groups`` and passes
``n_groups + 1``.  (hvg calls its groups batches.)  The frontends make the codes
with numpy (``astype(np.int64)``); the drivers pass them on.
"""

from __future__ import annotations

import numpy as np

from .toolkit import routine

__all__ = ["group_positions", "row_slots"]


@routine
def group_positions(codes, n_groups):
    """Per row its position inside its group, and the rows per group (code < 0: none).

    Returns ``(pos, counts)``: ``pos[i]`` is the number of earlier rows of row
    ``i``'s group (``-1`` for a row in no group), ``counts`` ``(n_groups,)`` int64.
    """
    pos = np.empty(codes.shape[0], np.int64)
    counts = np.zeros(n_groups, np.int64)
    for i in range(codes.shape[0]):
        b = codes[i]
        if b >= 0:
            pos[i] = counts[b]
            counts[b] += 1
        else:
            pos[i] = -1
    return pos, counts


def row_slots(
    codes: np.ndarray, n_groups: int, n_slots: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per row its partial-sum row ``group * n_slots + position % n_slots`` (or -1).

    fast-array-utils' CSR partial sums (``hvg.mean_var``): row ``i`` of group ``g``,
    the ``k``-th of its group, adds into slot ``g * n_slots + k % n_slots``.  Returns
    ``(slots, counts)`` (rows per group), int64.  numpy, for the drivers: a kernel
    of its own cost a compile (0.6 s) per process for a few microseconds of work.
    """
    if n_groups == 1:  # one batch (the common case): the rows in it, counted
        pos = np.cumsum(codes >= 0) - 1
    else:
        order = np.argsort(codes, kind="stable")  # a group's rows stay in row order
        ranked = codes[order]
        pos = np.empty(codes.shape[0], np.int64)
        pos[order] = np.arange(codes.shape[0]) - np.searchsorted(ranked, ranked, "left")
    slots = np.where(codes >= 0, codes * n_slots + pos % n_slots, -1).astype(np.int64)
    return slots, np.bincount(codes[codes >= 0], minlength=n_groups).astype(np.int64)
