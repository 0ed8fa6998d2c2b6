"""The ranks scanpy 1.12.4's Wilcoxon test gives NaN values.

scanpy's ``rankdata`` sorts each densified column with numba's ``np.argsort`` (its
quicksort: not stable, NaN sorts last) and starts a tie block wherever
``arr[1:] != arr[:-1]``.  ``NaN != NaN``, so every NaN is a block of its own: the NaN
at sorted position ``p`` (from 0) gets rank ``p + 1``.  Which NaN gets which of the
top ranks is the quicksort's doing, not the rows' order, and a group's rank sum
depends on it as soon as a column's NaNs fall into two or more ranked groups.

The Wilcoxon kernels (:mod:`.wilcoxon`) rank NaNs by row;
:func:`nan_rank_sums` gives one column's NaN rank sums per slot in scanpy's order
by sorting the same values with the same algorithm: :func:`_argsort` is numba's
quicksort (``numba/misc/quicksort.py``, numba 0.68: median-of-three partitions,
insertion sort below 15 values, the larger part pushed on a stack) with its
NaN-last comparison (``numpy_support.lt_floats``), written over arrays (numba's keeps
its stack in a list, whose bounds checks the verifier rejects).  Its permutation
depends on the outcomes of the comparisons only, so a value-preserving conversion
(float16 → float32, byte order) keeps it.  :func:`.drivers.ranksums` applies the
difference.
"""

from __future__ import annotations

import numpy as np

from .._sort import nan_last_less
from ..toolkit import kernel, routine, signatures

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


#: numba's quicksort: partitions below this size are insertion-sorted
_SMALL_QUICKSORT = 15
#: its stack of pending partitions (the larger part is pushed: depth <= log2(n))
_MAX_STACK = 100


@routine
def _insertion_sort(a, r, low, high):
    """Sort the order ``r[low:high + 1]`` by ``a`` (numba's ``insertion_sort``)."""
    for i in range(low + 1, high + 1):
        k = r[i]
        v = a[k]
        j = i
        while j > low and nan_last_less(v, a[r[j - 1]]):
            r[j] = r[j - 1]
            j -= 1
        r[j] = k


@routine
def _partition(a, r, low, high):
    """Partition ``r[low:high + 1]`` around a median of three; the pivot's position."""
    mid = (low + high) >> 1
    if nan_last_less(a[r[mid]], a[r[low]]):
        r[low], r[mid] = r[mid], r[low]
    if nan_last_less(a[r[high]], a[r[mid]]):
        r[high], r[mid] = r[mid], r[high]
    if nan_last_less(a[r[mid]], a[r[low]]):
        r[low], r[mid] = r[mid], r[low]
    pivot = a[r[mid]]
    r[high], r[mid] = r[mid], r[high]  # the pivot waits at the end
    i = low
    j = high - 1
    while True:
        while i < high and nan_last_less(a[r[i]], pivot):
            i += 1
        while j >= low and nan_last_less(pivot, a[r[j]]):
            j -= 1
        if i >= j:
            break
        r[i], r[j] = r[j], r[i]
        i += 1
        j -= 1
    r[i], r[high] = r[high], r[i]
    return i


@routine
def _argsort(a):
    """``np.argsort(a)`` as numba computes it (``run_quicksort1`` of an argsort)."""
    r = np.arange(a.shape[0])
    if a.shape[0] < 2:
        return r
    stack = np.empty((_MAX_STACK, 2), np.intp)
    stack[0, 0] = 0
    stack[0, 1] = a.shape[0] - 1
    n = 1
    while n > 0:
        n -= 1
        low = stack[n, 0]
        high = stack[n, 1]
        while high - low >= _SMALL_QUICKSORT:
            i = _partition(a, r, low, high)
            if high - i > i - low:  # push the larger part, go on with the smaller
                if high > i:
                    stack[n, 0] = i + 1
                    stack[n, 1] = high
                    n += 1
                high = i - 1
            else:
                if i > low:
                    stack[n, 0] = low
                    stack[n, 1] = i - 1
                    n += 1
                low = i + 1
        _insertion_sort(a, r, low, high)
    return r


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
    order = _argsort(values)  # numba's quicksort, as in scanpy's rankdata
    out = np.zeros(n_slots)
    p = values.shape[0] - 1
    while p >= 0 and np.isnan(values[order[p]]):  # the NaNs: sorted last
        out[slots[order[p]]] += p + 1
        p -= 1
    return out
