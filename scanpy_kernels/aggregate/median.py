"""Per-group medians of every column, all groups in two passes over the matrix.

scanpy 1.12.4's ``Aggregate.median`` copies each group's rows (``X[group_mask]``) and
takes, for a sparse matrix, sklearn's ``csc_median_axis_0`` of its CSC copy
(``sklearn.utils.sparsefuncs._get_median``), for a dense one ``np.median(axis=0)``.
A median is a selection: its value does not depend on the order the values are
visited in, so one rule gives both, bit for bit.  A (group, column) of ``n`` values
sorts as ``[negatives, zeros, positives, NaNs]`` (NaN last, as ``np.sort`` and
``np.partition``); with ``middle, odd = divmod(n, 2)`` the median is the value of
rank ``middle`` (odd ``n``) or ``(a + b) / 2`` of the ranks ``middle - 1`` and
``middle``, in the values' dtype (sklearn: two float32 scalars ``/ 2.0``; numpy: the
float32 ``mean`` of two).  A rank among the zeros is 0 (stored and implicit zeros
alike: sklearn's ``_get_elem_at_rank``); a rank among the negatives or positives is
selected from the pair's nonzero values.  ``n == 0`` gives NaN; a dense column with
a NaN gives NaN (numpy's ``_median_nancheck``), a sparse one ranks NaN last only
(sklearn).  The sign of a zero median is not kept (numpy may return a stored
``-0.0``; it compares equal).

Two sweeps of :mod:`.._columns` (one body for every format): the first counts each
pair's negatives, positives and NaNs, then each pair whose median lies among its
nonzero values gets an extent of a buffer, which the second sweep fills (in row
order; the order does not matter) and, as a column block completes, selects from.
Count matrices seldom need any value: at 7% density most medians are 0.
"""

from __future__ import annotations

import numpy as np

from .._columns import no_finish, sweep_columns, sweep_csr, sweep_dense
from .._groups import group_positions
from ..toolkit import assume, helper, kernel, matrix_signatures, routine, zeros1
from ._examples import examples

__all__ = ["group_medians_csc", "group_medians_csr", "group_medians_dense"]

#: medians (the values' dtype) of the matrix, codes, n_groups
_SPARSE, _DENSE = matrix_signatures("{d}[:, ::1]")

#: what a rank holds besides a nonzero value (``_rank_of`` gives its position then)
_ZERO, _NAN = -1, -2


@routine
def _select(buf, lo, hi, k):
    """Return the value of rank ``k - lo`` of ``buf[lo:hi]`` (reorders it; no NaN).

    Hoare's quickselect (Wirth's partition, median-of-three pivot): equal values stop
    both scans, so runs of ties cost no more than distinct values.
    """
    while hi - lo > 2:
        mid = (lo + hi - 1) >> 1
        a, b, c = buf[lo], buf[mid], buf[hi - 1]
        pivot = max(min(a, b), min(max(a, b), c))
        i = lo
        j = hi - 1
        while i <= j:
            while buf[i] < pivot:
                i += 1
            while pivot < buf[j]:
                j -= 1
            if i <= j:
                buf[i], buf[j] = buf[j], buf[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j + 1
        elif k >= i:
            lo = i
        else:
            return buf[k]  # between the scans: equal to the pivot
    if hi - lo == 2 and buf[lo + 1] < buf[lo]:
        buf[lo], buf[lo + 1] = buf[lo + 1], buf[lo]
    return buf[k]


@helper
def _rank_of(rank, neg, zeros, valid):
    """Position of ``rank`` among the sorted nonzero values, or ``_ZERO``/``_NAN``.

    ``neg`` negatives, then ``zeros`` zeros, then positives up to ``valid`` (the
    values that are not NaN), then NaNs.
    """
    if rank < neg:
        return rank
    if rank < neg + zeros:
        return _ZERO
    if rank < valid:
        return rank - zeros
    return _NAN


@helper
def _ranks(n):
    """Return the median's ranks of ``n`` values: ``(middle - 1, middle)`` or ``middle`` twice."""
    middle = n >> 1
    return (middle - 1 if n % 2 == 0 else middle), middle


@helper
def _count_add(state, i, b, j, x):
    """Count ``x`` in (group ``b``, column ``j``): negatives, positives, NaNs."""
    cnt = state[0]
    q = 3 * (b * state[1] + j)
    assume(q >= 0)
    if x < 0:
        cnt[q] += 1  # race-free: column j is the sweep's (its block's or its own)
    elif x > 0:
        cnt[q + 1] += 1  # race-free: column j is the sweep's (its block's or its own)
    elif np.isnan(x):
        cnt[q + 2] += 1  # race-free: column j is the sweep's (its block's or its own)


@routine
def _plan(cnt, sizes, n_cols, nan_propagates, out, extents):
    """Write the medians that need no value; give the others extents of a buffer.

    ``extents[2q]``: the start of pair ``q``'s nonzero values in the buffer (``-1``:
    none needed), ``extents[2q + 1]``: its fill cursor.  Returns the buffer's size.
    """
    total = 0
    for b in range(sizes.shape[0]):
        n = sizes[b]
        lo_rank, hi_rank = _ranks(n)
        for j in range(n_cols):
            q = b * n_cols + j
            neg = cnt[3 * q]
            pos = cnt[3 * q + 1]
            nan = cnt[3 * q + 2]
            valid = n - nan
            extents[2 * q] = -1
            if n == 0 or (nan_propagates and nan > 0):
                out[b, j] = np.nan
                continue
            zeros = valid - neg - pos
            r0 = _rank_of(lo_rank, neg, zeros, valid)
            r1 = _rank_of(hi_rank, neg, zeros, valid)
            if r0 >= 0 or r1 >= 0:
                extents[2 * q] = total
                extents[2 * q + 1] = total
                total += neg + pos
            elif _NAN in (r0, r1):
                out[b, j] = np.nan
            else:
                out[b, j] = 0.0
    return total


@helper
def _gather_add(state, i, b, j, x):
    """Put a nonzero, non-NaN ``x`` into (group ``b``, column ``j``)'s extent."""
    extents = state[2]
    q = 2 * (b * state[1] + j)
    assume(q >= 0)
    if extents[q] >= 0 and x != 0 and not np.isnan(x):
        p = extents[q + 1]
        state[3][p] = x  # race-free: p is in pair q's extent; column j is the sweep's
        extents[q + 1] = p + 1  # race-free: column j is the sweep's


@helper
def _value(buf, start, stop, r):
    """Return the value at position ``r`` (:func:`_rank_of`) of the extent ``[start, stop)``."""
    if r == _ZERO:
        return 0.0
    if r == _NAN:
        return np.nan
    return np.float64(_select(buf, start, stop, start + r))


@helper
def _select_done(state, lo, hi):
    """Select the medians of the columns ``lo <= j < hi`` that have extents."""
    cnt = state[0]  # the layout: _medians_state; read by index (see .._columns)
    n_cols = state[1]
    extents = state[2]
    buf = state[3]
    sizes = state[4]
    out = state[5]
    for b in range(sizes.shape[0]):
        n = sizes[b]
        lo_rank, hi_rank = _ranks(n)
        for j in range(lo, hi):
            q = b * n_cols + j
            start = extents[2 * q]
            if start >= 0:
                stop = extents[2 * q + 1]
                neg = cnt[3 * q]
                valid = n - cnt[3 * q + 2]
                zeros = valid - (stop - start)
                a = _value(buf, start, stop, _rank_of(lo_rank, neg, zeros, valid))
                if lo_rank == hi_rank:
                    out[b, j] = a  # race-free: lo <= j < hi, the sweep's own columns
                else:
                    c = _value(buf, start, stop, _rank_of(hi_rank, neg, zeros, valid))
                    # (a + c) / 2 in the values' dtype: each store into `out` rounds
                    out[b, j] = a + c  # race-free: lo <= j < hi, the sweep's own
                    out[b, j] = out[b, j] * 0.5  # race-free: the sweep's own columns


@helper
def _medians_state(codes, n_groups, n_cols, out_dtype):
    """Return the sweeps' state: ``(counts, n_cols, extents, buffer, rows per group, out)``.

    The buffer is empty until :func:`_with_buffer`; ``out`` has ``out_dtype``'s dtype.
    """
    _, sizes = group_positions(codes, n_groups)
    cnt = zeros1(3 * n_groups * n_cols, np.int32)  # counts of rows: below 2**31
    extents = np.empty(2 * n_groups * n_cols, np.int64)
    out = np.empty((n_groups, n_cols), out_dtype.dtype)
    return (cnt, n_cols, extents, np.empty(0, out.dtype), sizes, out)


@helper
def _with_buffer(state, nan_propagates):
    """Return the state after the counting sweep: medians planned, the buffer allocated."""
    total = _plan(state[0], state[4], state[1], nan_propagates, state[5], state[2])
    buf = np.empty(total, state[5].dtype)
    return (state[0], state[1], state[2], buf, state[4], state[5])


# --------------------------------------------------------------------- kernels
@kernel(signatures=_SPARSE, example=examples("csr"))
def group_medians_csr(data, indices, indptr, n_rows, n_cols, codes, n_groups):
    """Per-group medians of a canonical CSR matrix (sklearn's ``csc_median_axis_0``)."""
    st = _medians_state(codes, n_groups, n_cols, data)
    sweep_csr(data, indices, indptr, n_rows, n_cols, codes, st, _count_add, no_finish)
    st = _with_buffer(st, nan_propagates=False)  # a NaN ranks last (sklearn)
    if st[3].shape[0] > 0:  # some median lies among the values (else all are 0/NaN)
        sweep_csr(
            data, indices, indptr, n_rows, n_cols, codes, st, _gather_add, _select_done
        )
    return st[5]


@kernel(signatures=_SPARSE, example=examples("csc"))
def group_medians_csc(data, indices, indptr, n_rows, n_cols, codes, n_groups):
    """Per-group medians of a CSC matrix (sklearn's ``csc_median_axis_0``)."""
    st = _medians_state(codes, n_groups, n_cols, data)
    sweep_columns(data, indices, indptr, n_cols, codes, st, _count_add, no_finish)
    st = _with_buffer(st, nan_propagates=False)  # a NaN ranks last (sklearn)
    if st[3].shape[0] > 0:  # some median lies among the values
        sweep_columns(
            data, indices, indptr, n_cols, codes, st, _gather_add, _select_done
        )
    return st[5]


@kernel(signatures=_DENSE, example=examples("dense"))
def group_medians_dense(x, codes, n_groups):
    """Per-group medians of a C-contiguous dense matrix (``np.median(axis=0)``)."""
    st = _medians_state(codes, n_groups, x.shape[1], x)
    sweep_dense(x, codes, st, _count_add, no_finish)
    st = _with_buffer(st, nan_propagates=True)  # a NaN makes the median NaN (numpy)
    if st[3].shape[0] > 0:  # some median lies among the values
        sweep_dense(x, codes, st, _gather_add, _select_done)
    return st[5]
