"""Zero-centred scaling of a CSR matrix into a dense array: ``scale(zero_center=True)``.

scanpy 1.12.4 (``preprocessing/_scale.py`` ``scale_array``) densifies a sparse matrix
to zero-centre it: ``x -= mean`` is scipy's ``x.todense() - mean`` (a dense copy in
the data dtype, duplicates added into it in stored order, ``0 + v``; then a float64
array), ``np.true_divide(x, std, out=x)``, and ``clip_array`` (``x > max`` becomes
``max``, else ``x < -max`` becomes ``-max``; NaN stays).  Two dense temporaries, the
float32 one and the float64 result, ~1.5x the output's memory.

:func:`center_scale_csr` writes the float64 result once: each row starts as the
zero background ``clip((0.0 - mean) / std)`` (computed by the driver), and each stored
column gets ``clip((float64(acc[j]) - mean[j]) / std[j])``, ``acc[j]`` the row's
values of column ``j`` added in stored order into zeroed per-thread scratch of the
data dtype (what ``todense`` does); then the scratch is zeroed again.  The same
operations in the same order as scanpy's, so the same bits, at any thread count.

On a C-contiguous array scanpy works in place, in the array's dtype: ``x -= mean``
(float64 arithmetic, stored back), ``np.true_divide(x, std, out=x)`` (the same), then
``clip_array`` (``zero_center=False``: only from above; no centring either).
:func:`scale_dense` is those three steps per value, in place, in one parallel pass.

The CSR kernel takes ``(*m.args, mean, std, max_value, background, out)`` of
``as_matrix(x, stored=True)`` with indices in range (the driver checks them):
``mean``/``std``/``background`` ``(n_cols,)`` float64, ``max_value`` float64 (``inf``:
no clipping), ``out`` ``(n_rows, n_cols)`` float64 allocated by the driver (numpy's
huge pages, docs/kernel-guide.md), which it returns.  The dense kernel takes
``(x, mean, std, max_value, center)`` and returns nothing.
"""

from __future__ import annotations

import numba
import numpy as np

from ..toolkit import helper, kernel, matrix_args, signatures, thread_partials

__all__ = ["center_scale_csr", "scale_dense"]

#: data, indices, indptr, n_rows, n_cols, mean, std, max_value, background, out
_SIGS = signatures(
    "float64[:, ::1]({d}[::1], {i}[::1], {i}[::1], int64, int64, float64[::1], "
    "float64[::1], float64, float64[::1], float64[:, ::1])"
)


def _examples(rng):
    """Log-like values, an empty row, an unsorted row with an entry stored three times."""
    out = []
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = np.log1p(rng.negative_binomial(1, 0.3, (70, 40)).astype(np.float64))
        x[rng.random(x.shape) < 0.5] = 0.0
        x[4] = 0.0
        data, indices, indptr, n_rows, n_cols = matrix_args(x, "csr", dtype, index)
        a, b = indptr[6], indptr[7]
        if b - a >= 3:  # row 6 reversed, its first column stored three times
            indices[a:b] = indices[a:b][::-1].copy()
            indices[a + 1 : a + 3] = indices[a]
        mean = x.mean(axis=0)
        std = x.std(axis=0) + 0.5
        background = (0.0 - mean) / std
        for max_value in (np.inf, 1.0):
            bg = np.array([clip(v, max_value, center=True) for v in background])
            out.append(
                (data, indices, indptr, n_rows, n_cols, mean, std, max_value, bg,
                 np.empty((n_rows, n_cols)))
            )  # fmt: skip
    return out


#: x, mean, std, max_value, center
_DENSE_SIGS = signatures(
    "none({d}[:, ::1], float64[::1], float64[::1], float64, boolean)"
)


def _dense_examples(rng):
    out = []
    for args in _examples(rng)[::2] + _examples(rng)[1::2]:
        data, indices, indptr, n_rows, n_cols, mean, std, max_value = args[:8]
        x = np.zeros((n_rows, n_cols), data.dtype)
        for i in range(n_rows):
            np.add.at(
                x[i],
                indices[indptr[i] : indptr[i + 1]],
                data[indptr[i] : indptr[i + 1]],
            )
        out.extend((x.copy(), mean, std, max_value, center) for center in (True, False))
    return out


@helper
def clip(v, max_value, center):
    """Clip as scanpy's ``clip_array``: ``[-max, max]`` (``center``) or ``(.., max]``.

    NaN is kept.
    """
    if v > max_value:
        return max_value
    if center and v < -max_value:
        return -max_value
    return v


@kernel(signatures=_SIGS, example=_examples)
def center_scale_csr(
    data, indices, indptr, n_rows, n_cols, mean, std, max_value, background, out
):
    """Write the zero-centred, scaled and clipped rows of a CSR matrix into ``out``."""
    acc = thread_partials(n_cols, data.dtype)  # zeroed; each row leaves it zeroed
    for i in numba.prange(n_rows):
        row_acc = acc[numba.get_thread_id()]
        row_out = out[i]
        for j in range(n_cols):
            row_out[j] = background[j]  # race-free: row i is this iteration's
        s, e = indptr[i], indptr[i + 1]
        vals = data[s:e]
        cols = indices[s:e]
        for p in range(vals.shape[0]):
            row_acc[cols[p]] += vals[p]  # race-free: the row of this thread
        for p in range(vals.shape[0]):
            j = cols[p]
            v = (np.float64(row_acc[j]) - mean[j]) / std[j]
            row_out[j] = clip(v, max_value, center=True)  # race-free: row i's own
        for p in range(vals.shape[0]):
            row_acc[cols[p]] = 0  # race-free: the row of this thread
    return out


@kernel(signatures=_DENSE_SIGS, example=_dense_examples)
def scale_dense(x, mean, std, max_value, center):
    """Centre (with ``center``), scale and clip a C-contiguous array in place."""
    n_rows, n_cols = x.shape
    for i in numba.prange(n_rows):
        row = x[i]
        for j in range(n_cols):
            v = row[j]
            if center:
                v = np.float64(v) - mean[j]  # x -= mean: float64, stored in x's dtype
                v = row.dtype.type(v)
            v = row.dtype.type(np.float64(v) / std[j])  # np.true_divide(out=x)
            row[j] = clip(np.float64(v), max_value, center=center)  # race-free: row i
