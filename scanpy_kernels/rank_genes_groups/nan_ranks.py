"""The ranks scanpy 1.12.4's Wilcoxon test gives NaN values.

scanpy's ``rankdata`` sorts each densified column with numba's ``np.argsort`` (its
quicksort: not stable, NaN sorts last) and starts a tie block wherever
``arr[1:] != arr[:-1]``.  ``NaN != NaN``, so every NaN is a block of its own: the NaN
at sorted position ``p`` (from 0) gets rank ``p + 1``.  Which NaN gets which of the
top ranks is the quicksort's doing, not the rows' order, and a group's rank sum
depends on it as soon as a column's NaNs fall into two or more ranked groups.

The Wilcoxon kernels (:mod:`.wilcoxon`) rank NaNs by row;
:func:`nan_rank_sums` gives one column's NaN rank sums per slot in scanpy's order
by calling the same ``np.argsort`` on the same values.  numba's quicksort is
deterministic and its permutation depends on the outcomes of its comparisons only,
so a value-preserving conversion (float16 → float32, byte order) keeps it.
:func:`.drivers.ranksums` applies the difference.
"""

from __future__ import annotations

import numpy as np

from ..toolkit import kernel, signatures

__all__ = ["nan_rank_sums"]


def _example(rng: np.random.Generator) -> list[tuple]:
    """One column per dtype with NaNs in three slots, zeros, ties and negatives."""
    out = []
    for dtype in (np.float32, np.float64):
        values = np.round(rng.normal(0.0, 1.0, 200), 1)
        values[rng.random(200) < 0.5] = 0.0
        values[rng.random(200) < 0.2] = np.nan
        slots = rng.integers(0, 3, 200).astype(np.int64)
        out.append((values.astype(dtype), slots, 3))
    return out


@kernel(
    signatures=signatures("float64[::1]({d}[::1], int64[::1], int64)"),
    example=_example,
    parallel=False,
)
def nan_rank_sums(values, slots, n_slots):
    """Per slot, the sum of the ranks scanpy's ``rankdata`` gives the NaNs of a column.

    ``values``: the column as scanpy ranked it (densified, its cells in scanpy's
    order); ``slots[i]``: the slot of value ``i``, in ``[0, n_slots)``.  Returns
    ``(n_slots,)`` float64 (integers: exact).
    """
    order = np.argsort(values)  # numba's quicksort, as in scanpy's rankdata
    out = np.zeros(n_slots)
    p = values.shape[0] - 1
    while p >= 0 and np.isnan(values[order[p]]):  # the NaNs: sorted last
        out[slots[order[p]]] += p + 1
        p -= 1
    return out
