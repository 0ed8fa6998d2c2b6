"""Per-cell QC metrics in one pass over the rows: ``describe_obs``' numbers.

Reproduces scanpy 1.12.4 ``preprocessing/_qc.py`` ``describe_obs`` on a CSR matrix
after its ``eliminate_zeros()``, row by row (``prange`` over rows; every output of a
row is computed by one iteration in scanpy's order, so any thread count gives the same
bits):

- ``total_counts``: ``stats.sum(x, axis=1)``: scipy's ``np.add.reduceat`` over the
  row in the data's dtype (:func:`.._pairwise.reduceat_sum`);
- ``total_counts_<qc_var>``: ``stats.sum(x[:, mask], axis=1)``: scipy's column subset
  keeps each row's stored order, then the same reduceat over the kept values;
- ``pct_counts_in_top_<n>_genes``: ``top_segment_proportions_sparse_csr`` (a numba
  kernel): the row's sequential sum; the ``max(ns)`` largest values by
  ``-np.partition(-row, max(ns))`` (the row itself, zero-padded, if it holds fewer),
  partitioned again at ``max(ns) - ns`` and read backwards; each segment
  ``prev:n`` summed in order and added to a running float total;
  ``acc / row_sum`` in float64.  numba's ``np.partition`` copies its input and runs
  ``_select_w_nan`` (quickselect, median-of-three pivots, NaN largest) on the copy for
  each sorted, distinct ``kth``; :func:`_select` is that code, run in place on
  per-thread scratch, so the values land in the same order and every segment sum
  equals scanpy's.

  Counts take a shorter road to the same bits (:func:`_top_counts`): when every value
  of a row is a whole number >= 0 and their sum is below ``2 / eps`` of the dtype
  (2**24 for float32), every float addition scanpy makes on the row is exact, so each
  segment sum is the exact sum of the values ranked ``prev..n-1`` whatever order the
  partition left them in.  Those sums come from a histogram of the values below
  :data:`HIST` and a sorted list of the few above (more than :data:`MAX_BIG` of them,
  or any other value, takes the quickselect road).

On a C-contiguous array (:func:`qc_rows_dense`) scanpy runs numpy instead:
``np.sum(x, axis=1)`` is ``0 + pairwise(row)`` (:func:`.._pairwise.array_sum`);
``x[:, mask]`` is an F-ordered copy, whose rows numpy sums value by value
(:func:`.._pairwise.sequential_sum`); the proportions come from numpy's
``np.partition`` (introselect), which this module does not copy: counts take the road
above, other rows are marked for the driver, which runs scanpy's numpy code on them.

The kernels take ``(*m.args, masks, ns)``: ``masks`` ``(n_masks, n_cols)`` bool (one
row per ``qc_var``), ``ns`` the sorted ``percent_top`` (may be empty or repeat a value)
with ``1 <= ns[k] <= n_cols``.  :func:`qc_rows_csr` returns ``(totals, masked, top)``:
``(n_rows,)`` and ``(n_masks, n_rows)`` in the data dtype and ``(n_rows, len(ns))``
float64 fractions; :func:`qc_rows_dense` returns the top-n *sums* instead of fractions
(the driver divides, as scanpy's numpy code does) and ``unsettled``, ``(n_rows,)`` bool.
"""

from __future__ import annotations

import numba
import numpy as np

from .._columns import column_range
from .._pairwise import STACK, array_sum, reduceat_sum, sequential_sum
from .._sort import nan_last_less
from ..toolkit import (
    helper,
    kernel,
    matrix_args,
    routine,
    signatures,
    thread_partials,
    thread_scratch,
)

__all__ = ["qc_rows_csr", "qc_rows_dense"]

#: counts below this are tallied in per-thread histograms (two of int64: 16 KiB)
HIST = 1024
#: at most this many larger counts per row are insertion-sorted, else quickselect
MAX_BIG = 64

_OUT = "Tuple(({d}[::1], {d}[:, ::1], float64[:, ::1]))"
#: data, indices, indptr, n_rows, n_cols, masks, ns
_SIGS = signatures(
    _OUT + "({d}[::1], {i}[::1], {i}[::1], int64, int64, boolean[:, ::1], int64[::1])"
)


_DENSE_OUT = "Tuple(({d}[::1], {d}[:, ::1], float64[:, ::1], boolean[::1]))"
#: x, masks, ns
_DENSE_SIGS = signatures(_DENSE_OUT + "({d}[:, ::1], boolean[:, ::1], int64[::1])")


def _examples(rng, fmt="csr"):
    out = []
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = rng.negative_binomial(1, 0.4, (90, 300)).astype(np.float64)
        x[rng.random(x.shape) < 0.5] = 0.0
        x[:3] *= 0.37  # non-integral values: sums depend on their order
        x[5] = 0.0  # an empty row
        x[6, :250] = 0.0  # fewer values than the largest n
        masks = rng.random((2, 300)) < 0.1
        for ns in ([50, 100, 200], [1, 300], []):
            args = matrix_args(x, fmt, dtype, index)
            out.append((*args, masks, np.asarray(ns, np.int64)))
    return out


@routine
def _partition(a, low, high):
    """Partition as numba 0.68's ``_partition`` (``np/arraymath.py``): median of 3, Hoare."""
    mid = (low + high) >> 1
    if nan_last_less(a[mid], a[low]):
        a[low], a[mid] = a[mid], a[low]
    if nan_last_less(a[high], a[mid]):
        a[high], a[mid] = a[mid], a[high]
    if nan_last_less(a[mid], a[low]):
        a[low], a[mid] = a[mid], a[low]
    pivot = a[mid]
    a[high], a[mid] = a[mid], a[high]
    i = low
    j = high - 1
    while True:
        while i < high and nan_last_less(a[i], pivot):
            i += 1
        while j >= low and nan_last_less(pivot, a[j]):
            j -= 1
        if i >= j:
            break
        a[i], a[j] = a[j], a[i]
        i += 1
        j -= 1
    a[i], a[high] = a[high], a[i]
    return i


@routine
def _select(a, k, low, high):
    """Put the k-th smallest of ``a[low:high + 1]`` at ``k`` (numba's ``_select_w_nan``)."""
    i = _partition(a, low, high)
    while i != k:
        if i < k:
            low = i + 1
        else:
            high = i - 1
        i = _partition(a, low, high)


@routine
def _longest_row(indptr):
    """Return the most values any row stores."""
    longest = 0
    for i in range(indptr.shape[0] - 1):
        longest = max(longest, np.int64(indptr[i + 1] - indptr[i]))
    return longest


@helper
def _top_proportions(row, ns, buf, part, out, i):
    """Write row ``i``'s ``pct_*_in_top_n`` fractions (scanpy's numba kernel, per row).

    ``buf``: scratch of at least ``row.shape[0]`` values; ``part``: of ``max(ns)``.
    """
    maxidx = ns[ns.shape[0] - 1]
    m = row.shape[0]
    total = row.dtype.type(0.0)
    for p in range(m):  # numba's np.sum: in order, in the data dtype
        total += row[p]
    if m <= maxidx:  # partitioned[i, :m] = data[start:end], zeros after
        for p in range(m):
            part[p] = row[p]
        for p in range(m, maxidx):
            part[p] = 0.0
    else:  # -(np.partition(-data[start:end], maxidx))[:maxidx]
        for p in range(m):
            buf[p] = -row[p]
        _select(buf, maxidx, 0, m - 1)
        for p in range(maxidx):
            part[p] = -buf[p]
    # np.partition(partitioned[i, :], maxidx - ns): each distinct kth, ascending
    low = 0
    for k in range(ns.shape[0] - 1, -1, -1):
        kth = maxidx - ns[k]
        if k == ns.shape[0] - 1 or ns[k] != ns[k + 1]:
            _select(part, kth, low, maxidx - 1)
            low = kth
    # partitioned[:, ::-1]: segment prev:n summed in order (numba's sum(axis=1))
    acc = row.dtype.type(0.0)
    prev = 0
    for k in range(ns.shape[0]):
        seg = row.dtype.type(0.0)
        for p in range(prev, ns[k]):
            seg += part[maxidx - 1 - p]
        acc += seg
        out[i, k] = np.float64(acc) / np.float64(total)
        prev = ns[k]


@helper
def _tally(row, hist, big):
    """Tally row's values into ``hist`` (two tallies) and ``big``; return the verdict.

    Returns ``(counts, top, n_big)``: whether every value is a whole number >= 0 with at
    most :data:`MAX_BIG` of them >= :data:`HIST` (NaN, inf and negatives fail), the
    largest value tallied and the number of values put in ``big``.
    """
    ok = True
    n_big = 0
    top = 0
    for p in range(row.shape[0]):
        v = np.float64(row[p])
        ok &= (v >= 0.0) & (v == np.floor(v))  # NaN fails; inf is >= HIST
        if v < HIST:
            h = np.intp(v) if v >= 0.0 else 0  # (a negative value already failed)
            hist[h + (p & 1) * HIST] += 1  # two tallies: no store-to-load chain
            top = max(top, h)
        elif n_big < MAX_BIG:
            big[n_big] = v
            n_big += 1
        else:
            ok = False
    return ok, top, n_big


@helper
def _sort_descending(big, n):
    """Insertion-sort ``big[:n]`` (at most :data:`MAX_BIG` values), largest first."""
    for p in range(1, n):
        v = big[p]
        q = p
        while q > 0 and big[q - 1] < v:
            big[q] = big[q - 1]
            q -= 1
        big[q] = v


@helper
def _top_counts(row, ns, hist, big, out, i, limit):
    """Write row ``i``'s top-n sums if its values are counts; return whether it did.

    Counts (:func:`_tally`) whose sum is below ``limit``: then every float sum scanpy
    makes is exact, so the sum of its top ``n`` values in any order is scanpy's (the
    caller divides by the row's sum, also exact).  ``hist``: two :data:`HIST` int64 tallies (even and odd positions),
    zero on entry and on return; ``big``: scratch for :data:`MAX_BIG` values.
    """
    ok, top, n_big = _tally(row, hist, big)
    total = 0.0  # exact while below limit (below 2**53 for any dtype)
    for q in range(top + 1):
        hist[q] += hist[q + HIST]
        hist[q + HIST] = 0
        total += np.float64(hist[q]) * q
    for q in range(n_big):
        total += big[q]
    if ok and total < limit:
        _sort_descending(big, n_big)
        acc = 0.0  # exact: every partial sum is a whole number below 2 / eps
        taken = 0
        p = 0
        h = top
        for k in range(ns.shape[0]):
            while taken < ns[k] and p < n_big:
                acc += big[p]
                p += 1
                taken += 1
            while taken < ns[k] and h > 0:
                t = min(hist[h], ns[k] - taken)
                acc += np.float64(t) * h
                taken += t
                hist[h] -= t
                h -= hist[h] == 0
            # the rest are zeros (stored or padding): they add nothing
            out[i, k] = acc
    for q in range(top + 1):
        hist[q] = 0
    return ok and total < limit


@helper
def _row_sums(row, cols, masks, stack, buf, out, i, total_of, masked_of):
    """Write row ``i``'s total and masked totals into ``out``.

    ``total_of(values, n, stack)``: how scanpy sums a row, ``masked_of`` a row of
    ``x[:, mask]`` (CSR: :func:`reduceat_sum` both; dense: :func:`array_sum` and, the
    subset being an F-ordered copy, :func:`sequential_sum`); ``buf``: scratch for the
    row's kept values.
    """
    totals, masked = out[0], out[1]  # (a tuple read by index: .._columns)
    totals[i] = total_of(row, row.shape[0], stack)
    for q in range(masks.shape[0]):
        n_kept = 0  # x[:, mask]: the row's kept values, in stored order
        for p in range(row.shape[0]):
            if masks[q, cols[p]]:
                buf[n_kept] = row[p]
                n_kept += 1
        masked[q, i] = masked_of(buf, n_kept, stack)


@helper
def _row_scratch(dtype):
    """Per-thread scratch of both kernels, and the counts road's bound on a row's sum.

    ``(stacks, hists, bigs, limit)``: a pairwise-sum stack (:data:`STACK`), two zeroed
    :data:`HIST` tallies (each row leaves them zeroed), :data:`MAX_BIG` large counts,
    and ``2 / eps``: whole numbers whose sum stays below it add exactly.
    """
    stacks = thread_scratch(STACK, np.float64)
    hists = thread_partials(2 * HIST, np.int64)
    bigs = thread_scratch(MAX_BIG, np.float64)
    return stacks, hists, bigs, 2.0 / np.finfo(dtype).eps


@kernel(signatures=_SIGS, example=_examples)
def qc_rows_csr(data, indices, indptr, n_rows, n_cols, masks, ns):
    """Per-row reduceat totals, masked totals and top-n proportions of a CSR matrix."""
    n_masks = masks.shape[0]
    n_top = ns.shape[0]
    totals = np.zeros(n_rows, data.dtype)
    masked = np.zeros((n_masks, n_rows), data.dtype)
    top = np.zeros((n_rows, n_top), np.float64)
    longest = _longest_row(indptr)
    maxidx = ns[n_top - 1] if n_top > 0 else 0
    scratch = thread_scratch(longest + maxidx, data.dtype)
    stacks, hists, bigs, limit = _row_scratch(data.dtype)
    out = (totals, masked)
    for i in numba.prange(n_rows):
        tid = numba.get_thread_id()
        buf = scratch[tid, :longest]
        part = scratch[tid, longest : longest + maxidx]
        stack = stacks[tid]
        s = indptr[i]
        e = indptr[i + 1]
        row = data[s:e]
        cols = indices[s:e]
        _row_sums(row, cols, masks, stack, buf, out, i, reduceat_sum, reduceat_sum)
        counts = n_top > 0 and _top_counts(
            row, ns, hists[tid], bigs[tid], top, i, limit
        )
        if counts:  # scanpy's numba kernel divides by the row's (exact) sum
            for k in range(n_top):
                top[i, k] = top[i, k] / np.float64(totals[i])
        elif n_top > 0:
            _top_proportions(row, ns, buf, part, top, i)
    return totals, masked, top


@kernel(signatures=_DENSE_SIGS, example=lambda rng: _examples(rng, "dense"))
def qc_rows_dense(x, masks, ns):
    """Per-row ``np.sum`` totals, masked totals and top-n sums of a dense array.

    Dense rows take the counts road only: ``top`` holds the top-n *sums* (the driver
    divides, as scanpy's numpy code does), and ``unsettled[i]`` marks a row that is not
    counts (the driver runs scanpy's ``np.partition`` on those rows: numpy's
    introselect, not numba's quickselect, orders them).
    """
    n_rows, n_cols = x.shape
    n_top = ns.shape[0]
    totals = np.zeros(n_rows, x.dtype)
    masked = np.zeros((masks.shape[0], n_rows), x.dtype)
    top = np.zeros((n_rows, n_top), np.float64)
    unsettled = np.zeros(n_rows, np.bool_)
    cols = column_range(n_cols)
    scratch = thread_scratch(n_cols, x.dtype)
    stacks, hists, bigs, limit = _row_scratch(x.dtype)
    out = (totals, masked)
    for i in numba.prange(n_rows):
        tid = numba.get_thread_id()
        row = x[i]
        _row_sums(
            row,
            cols,
            masks,
            stacks[tid],
            scratch[tid],
            out,
            i,
            array_sum,
            sequential_sum,
        )
        if n_top > 0:
            unsettled[i] = not _top_counts(
                row, ns, hists[tid], bigs[tid], top, i, limit
            )
    return totals, masked, top, unsettled
