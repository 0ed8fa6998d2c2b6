"""Per-cell totals for ``normalize_total``: the size factors before ``target_sum``.

Reproduces scanpy 1.12.4 ``preprocessing/_normalization.py`` ``_normalize_csr`` (a
numba kernel) on a CSR matrix as stored (any order, duplicates too):

- ``counts_per_cell[i]``: ``count = 0.0; count += data[j]`` over the row in stored
  order, a float64 accumulator, stored in the data dtype: :func:`row_total` (for
  every row :func:`row_totals`, or fused into the scaling, :mod:`.scale`);
- with ``exclude_highly_expressed``: a gene is highly expressed if some cell stores a
  value ``data[j] > max_fraction * counts_per_cell[i]`` (float64 product and
  comparison; scanpy counts such cells per gene in per-thread int32 rows, only
  ``count > 0`` is used): :func:`highly_expressed`; then the totals again over the
  other genes: :func:`row_totals` with ``excluded``.

Each row is summed by one ``prange`` iteration in scanpy's order, so every thread
count gives scanpy's bits.  Rows of whole numbers (counts, what ``normalize_total``
gets) take int64 lanes to the same bits where every float64 partial sum is exact
(:func:`row_total`): the sequential sum waits on each addition (50,000 x 20,000 at 7%,
2 threads: 29 ms), the lanes run at memory speed (11 ms).  The kernels take ``(*m.args, ...)`` of
``as_matrix(x, stored=True)``; indices are read only by :func:`highly_expressed`,
which counts those outside ``[0, n_cols)`` (the driver raises) instead of reading out
of bounds, and by :func:`row_totals` with ``excluded``, which the driver calls only
after that check.
"""

from __future__ import annotations

import numba
import numpy as np

from ..toolkit import (
    helper,
    kernel,
    matrix_args,
    signatures,
    thread_partials,
    vectorize,
)

__all__ = ["NO_EXCLUSION", "highly_expressed", "row_total", "row_totals"]

#: ``row_total``'s ``excluded`` that leaves out no gene (every value counts)
NO_EXCLUSION = np.zeros(0, dtype=np.bool_)

#: data, indices, indptr, n_rows, n_cols, excluded
_TOTALS_SIGS = signatures(
    "{d}[::1]({d}[::1], {i}[::1], {i}[::1], int64, int64, boolean[::1])"
)
#: data, indices, indptr, n_rows, n_cols, totals, max_fraction
_HIGH_SIGS = signatures(
    "Tuple((boolean[::1], int64))"
    "({d}[::1], {i}[::1], {i}[::1], int64, int64, {d}[::1], float64)"
)


def _matrices(rng):
    """Count matrices with a dominant gene, an empty row and unsorted duplicates."""
    out = []
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = rng.negative_binomial(1, 0.4, (90, 70)).astype(np.float64)
        x[rng.random(x.shape) < 0.5] = 0.0
        x[:3] *= 0.37  # non-integral values: sums depend on their order
        x[5] = 0.0  # an empty row
        x[::7, 2] = 50.0  # a highly expressed gene
        data, indices, indptr, n_rows, n_cols = matrix_args(x, "csr", dtype, index)
        a, b = indptr[8], indptr[9]  # row 8 reversed, its first entry stored twice
        indices[a:b], data[a:b] = indices[a:b][::-1].copy(), data[a:b][::-1].copy()
        indices[a + 1] = indices[a]
        out.append((data, indices, indptr, n_rows, n_cols))
    return out


def _totals_examples(rng):
    out = []
    for args in _matrices(rng):
        excluded = np.zeros(args[4], bool)
        out.append((*args, excluded[:0]))  # no exclusion: the plain sums
        excluded[[2, 9]] = True
        out.append((*args, excluded))
    return out


def _high_examples(rng):
    out = []
    for args in _matrices(rng):
        totals = row_totals(*args, NO_EXCLUSION)
        out.extend((*args, totals, f) for f in (0.05, 0.2, 1.0))
    return out


#: whole values below this are summed as int64 on the counts road (exact)
_WHOLE = 2.0**31
#: a row whose values' magnitudes sum below this has only exact float64 partial sums
_EXACT = 2**53


@helper
def row_total(data, indices, indptr, i, excluded):
    """Return row ``i``'s sum in stored order, a float64 accumulator, in the data dtype.

    ``excluded``: an empty array (every value counts) or ``(n_cols,)`` bool: values
    of those columns are skipped (their indices must lie in ``[0, n_cols)``).

    scanpy's sequential float64 sum waits 4 cycles per value for the previous
    addition.  The counts road takes the same bits in a vectorized pass: if every
    value is a whole number below :data:`_WHOLE` in magnitude and their magnitudes
    sum below 2**53, every partial sum scanpy forms is an integer below 2**53, exact
    in float64, so its result is the exact sum, which int64 lanes add in any order.
    Any other row (or one with ``excluded``) is summed value by value.
    """
    s, e = indptr[i], indptr[i + 1]
    vals = data[s:e]  # indexed from 0: no wraparound test (docs/kernel-guide.md)
    if excluded.shape[0] == 0:
        total = 0
        magnitude = 0
        other = 0
        vectorize(data)  # integer sums: any order gives the same result
        for p in range(vals.shape[0]):
            v = vals[p]
            whole = (v == np.floor(v)) & (np.abs(v) < _WHOLE)  # False for NaN, inf
            w = v if whole else data.dtype.type(0.0)  # converted only in range
            total += np.int64(w)
            magnitude += np.int64(np.abs(w))
            other += not whole
        if other == 0 and magnitude < _EXACT:
            return data.dtype.type(np.float64(total))
    count = 0.0  # scanpy's `count = 0.0; count += mat.data[j]`
    if excluded.shape[0] > 0:
        cols = indices[s:e]
        for p in range(vals.shape[0]):
            if not excluded[cols[p]]:
                count += vals[p]
    else:
        for p in range(vals.shape[0]):
            count += vals[p]
    return data.dtype.type(count)  # stored in counts_per_cell, of the data dtype


@kernel(signatures=_TOTALS_SIGS, example=_totals_examples)
def row_totals(data, indices, indptr, n_rows, n_cols, excluded):
    """Sum each row in stored order in float64, stored in the data dtype (:func:`row_total`)."""
    totals = np.empty(n_rows, data.dtype)
    for i in numba.prange(n_rows):
        totals[i] = row_total(data, indices, indptr, i, excluded)
    return totals


@kernel(signatures=_HIGH_SIGS, example=_high_examples)
def highly_expressed(data, indices, indptr, n_rows, n_cols, totals, max_fraction):
    """Return the genes with a value above ``max_fraction`` of its cell's total.

    Returns ``(high, n_bad)``: ``(n_cols,)`` bool, and how many stored indices lie
    outside ``[0, n_cols)`` (skipped; the driver refuses such a matrix).
    """
    hits = thread_partials(n_cols, np.int32)
    n_bad = 0
    for i in numba.prange(n_rows):
        row_hits = hits[numba.get_thread_id()]
        limit = max_fraction * np.float64(totals[i])  # scanpy's float64 product
        s, e = indptr[i], indptr[i + 1]
        vals = data[s:e]
        cols = indices[s:e]
        for p in range(vals.shape[0]):
            j = np.int64(cols[p])
            if j < 0 or j >= n_cols:
                n_bad += 1
            elif vals[p] > limit:
                row_hits[j] = 1  # race-free: the row of this thread
    high = np.zeros(n_cols, np.bool_)
    for t in range(hits.shape[0]):
        for j in range(n_cols):
            high[j] |= hits[t, j] != 0
    return high, n_bad
