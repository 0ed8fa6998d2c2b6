"""Dividing each cell by its size factor: ``normalize_total``'s scaling step.

scanpy 1.12.4 computes ``factors = counts_per_cell / target_sum`` (numpy, in the
totals' dtype when ``target_sum`` is a Python number or of that dtype) and scales a
CSR matrix with ``_utils.axis_mul_or_truediv(x, factors, op=truediv, axis=0, out=x,
allow_divide_by_zero=False)``: ``x.data = x.data / np.repeat(factors + (factors ==
0), np.diff(x.indptr))``, a serial numpy pass with two nnz-sized arrays (the repeated
divisors and the quotients).

:func:`scale_rows` computes each row's factor, ``total / target`` (one IEEE division
in the data dtype), and writes the quotients ``data[p] / divisor`` (the factor, or 1
where it is 0) into ``out``, in parallel over rows.  With ``totals`` empty it sums the
row first (:func:`.totals.row_total`), so a given ``target_sum`` needs one pass over
the values.  The driver allocates ``out``: numpy backs large arrays with huge pages
(``madvise``), which halves the cost of first touching it (measured: 50k x 20k at 7%,
2 threads, 0.13 s into numba's ``np.empty`` against 0.05 s into numpy's), and a new
array rather than scanpy's in-place division keeps the old ``data``, which another
matrix may share, unchanged, as scanpy did.

The kernel takes ``(*m.args, totals, target, out)`` of ``as_matrix(x, stored=True)``,
``totals``, ``target`` and ``out`` in the data dtype, and returns the factors.
"""

from __future__ import annotations

import numba
import numpy as np

from ..toolkit import kernel, signatures, vectorize
from .totals import NO_EXCLUSION, _matrices, row_total

__all__ = ["scale_rows"]

#: data, indices, indptr, n_rows, n_cols, totals, target, out
_SIGS = signatures(
    "{d}[::1]({d}[::1], {i}[::1], {i}[::1], int64, int64, {d}[::1], {d}, {d}[::1])"
)


def _examples(rng):
    out = []
    for args in _matrices(rng):
        data, n_rows = args[0], args[3]
        target = data.dtype.type(1e4)
        totals = (rng.random(n_rows) * 3e4).astype(data.dtype)
        totals[4] = 0.0  # divides by 1
        # given totals; summed in the kernel
        out.extend(
            (*args, t, target, np.empty_like(data)) for t in (totals, totals[:0])
        )
    return out


@kernel(signatures=_SIGS, example=_examples)
def scale_rows(data, indices, indptr, n_rows, n_cols, totals, target, out):
    """Write each row divided by its factor ``total / target`` into ``out``; return the factors.

    ``totals``: ``(n_rows,)``, or empty to sum each row here (all genes).
    """
    factors = np.empty(n_rows, data.dtype)
    fused = totals.shape[0] == 0
    one = data.dtype.type(1.0)
    for i in numba.prange(n_rows):
        total = (
            row_total(data, indices, indptr, i, NO_EXCLUSION) if fused else totals[i]
        )
        factor = total / target
        factors[i] = factor
        divisor = one if factor == 0 else factor  # factor + (factor == 0)
        s, e = indptr[i], indptr[i + 1]
        row = data[s:e]
        row_out = out[s:e]  # race-free: rows own disjoint ranges (indptr checked)
        vectorize(data)  # independent quotients: any order gives the same bits
        for k in range(row.shape[0]):
            row_out[k] = row[k] / divisor  # race-free: this row's own range
    return factors
