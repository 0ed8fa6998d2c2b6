"""Regressing out one categorical variable: ``regress_out(adata, key)``, per gene.

scanpy 1.12.4 (``preprocessing/_simple.py``) builds a float32 regressor per gene,
each cell's *category mean* of the gene (``_create_regressor_categorical``, a numba
kernel: ``x.T[ix, mask].mean()``, numba's ``np.mean``: the category's values added in
cell order into an accumulator of the data dtype, divided by the count in float64,
stored as float32; a category without cells gets NaN, never used), then fits
every gene that is not constant with statsmodels' ``GLM(y, [1, r], Gaussian())``, one
model per gene through joblib, and keeps its residuals ``y - (b0 + b1 r)`` (float64);
a constant gene is kept as it is.

A Gaussian GLM with the identity link is ordinary least squares, whose solution for
two regressors has a closed form (Seber & Lee, *Linear Regression Analysis*, 2003,
sec. 4.3.4): with ``r_mean``, ``y_mean`` over all cells,
``b1 = sum((r - r_mean)(y - y_mean)) / sum((r - r_mean)^2)``, ``b0 = y_mean - b1 r_mean``.
If ``r`` is constant (one category with cells, or equal means) the columns are
collinear: the least-squares fit is ``y_mean``, but statsmodels' IRLS falls back to
another solver and returns residuals that are off by up to a few percent (measured:
coefficients ~3e13, residuals 0.038 from ``y - y_mean`` on log data); such genes are
counted, and the driver leaves the matrix to scanpy's code, which keeps its numbers.
``r`` takes one value per category, so
the sums need the category counts ``n_c``, sums ``S_c = sum(y)`` and means ``r_c``:
``sum((r - r_mean)(y - y_mean)) = sum_c (r_c - r_mean)(S_c - n_c y_mean)``.  The result
is the same least-squares solution computed in float64 by another route: it differs
from statsmodels' by float64 rounding (migration_tests/TOLERANCES.md states the bound).

:func:`category_means` is the regressor, bit for bit; :func:`regress_categorical`
the residuals, into a Fortran-ordered float64 ``out`` (scanpy's ``np.vstack(res).T``),
one gene per ``prange`` iteration.  Both take ``(x, order, starts)``: ``x`` the cells
x genes array (any layout), ``order`` the cells sorted stably by category and
``starts`` ``(n_cats + 1,)`` where each category's cells begin in it (every cell has a
category).
"""

from __future__ import annotations

import numba
import numpy as np

from .._pairwise import sequential_sum
from ..toolkit import kernel, routine, signatures, thread_scratch

__all__ = ["category_means", "regress_categorical"]

#: x, order, starts
_MEANS_SIGS = signatures("float32[:, ::1]({d}[:, :], int64[::1], int64[::1])")
#: x, order, starts, means, out
_RESID_SIGS = signatures(
    "UniTuple(int64, 2)({d}[:, :], int64[::1], int64[::1], float32[:, ::1], "
    "float64[::1, :])"
)


def _grouping(codes, n_cats):
    order = np.argsort(codes, kind="stable").astype(np.int64)
    starts = np.searchsorted(codes[order], np.arange(n_cats + 1)).astype(np.int64)
    return order, starts


def _arrays(rng):
    out = []
    for dtype in (np.float32, np.float64):
        x = np.log1p(rng.negative_binomial(2, 0.3, (150, 30))).astype(dtype)
        x[:, 3] = 1.5  # constant: kept as it is
        x[:, 4] = 0.0
        codes = rng.integers(0, 4, 150)
        codes[codes == 2] = 1  # category 2 has no cells
        x[codes == 0, 5] = 7.0  # a gene with a category of one value
        out.extend((a, *_grouping(codes, 4)) for a in (x, np.asfortranarray(x)))
    return out


def _resid_examples(rng):
    return [
        (
            x,
            order,
            starts,
            category_means(x, order, starts),
            np.empty(x.shape, order="F"),
        )
        for x, order, starts in _arrays(rng)
    ]


@kernel(signatures=_MEANS_SIGS, example=_arrays)
def category_means(x, order, starts):
    """Return ``(n_cats, n_genes)`` float32: each category's mean of each gene, as numba's.

    numba's ``np.mean`` of the category's values (cell order): ``0 + v0 + v1 + ...``
    in the data dtype, then ``float64(sum) / count``, as float32.  A category without
    cells gets NaN (never used).
    """
    n_cells, n_genes = x.shape
    n_cats = starts.shape[0] - 1
    means = np.empty((n_cats, n_genes), np.float32)
    buf = thread_scratch(n_cells, x.dtype)
    for j in numba.prange(n_genes):
        vals = buf[numba.get_thread_id()]
        for c in range(n_cats):
            n = starts[c + 1] - starts[c]
            for k in range(n):
                vals[k] = x[order[starts[c] + k], j]
            total = sequential_sum(vals, n, vals)  # (the stack argument is unused)
            means[c, j] = np.float64(total) / np.float64(n)  # race-free: gene j's own
    return means


@routine
def _scan(x, j):
    """Return whether gene ``j`` varies over the cells and whether it is all finite."""
    first = x[0, j]
    varies = False
    finite = True
    for i in range(x.shape[0]):
        v = x[i, j]
        varies |= v != first
        finite &= np.isfinite(v)
    return varies, finite


@routine
def _fit(x, j, order, starts, means, s_c):
    """Return gene ``j``'s least-squares ``(b0, b1)`` on ``[1, r]``, and whether it is.

    ``s_c``: scratch for the category sums.  Not a fit (False) where ``r`` is constant.
    """
    n_cells = x.shape[0]
    n_cats = starts.shape[0] - 1
    y_total = 0.0
    r_total = 0.0
    for c in range(n_cats):
        acc = 0.0
        for k in range(starts[c], starts[c + 1]):
            acc += x[order[k], j]
        s_c[c] = acc
        y_total += acc
        if starts[c + 1] > starts[c]:  # an empty category's mean is NaN
            r_total += (starts[c + 1] - starts[c]) * np.float64(means[c, j])
    y_mean = y_total / n_cells
    r_mean = r_total / n_cells
    sxx = 0.0
    sxy = 0.0
    for c in range(n_cats):
        n_c = starts[c + 1] - starts[c]
        if n_c > 0:
            d = np.float64(means[c, j]) - r_mean
            sxx += n_c * d * d
            sxy += d * (s_c[c] - n_c * y_mean)
    if sxx > 0.0:
        b1 = sxy / sxx
        return y_mean - b1 * r_mean, b1, True
    return y_mean, 0.0, False  # r is constant: least squares fits the mean


@kernel(signatures=_RESID_SIGS, example=_resid_examples)
def regress_categorical(x, order, starts, means, out):
    """Write each gene's least-squares residuals on ``[1, category mean]`` into ``out``.

    A constant gene is copied.  Returns ``(n_refused, n_constant)``: the genes the
    driver refuses (holding a NaN or an infinite value, or with a constant regressor:
    their columns are not scanpy's numbers) and the constant genes.
    """
    n_cells, n_genes = x.shape
    n_cats = starts.shape[0] - 1
    sums = thread_scratch(n_cats, np.float64)
    n_bad = 0
    n_constant = 0
    for j in numba.prange(n_genes):
        varies, finite = _scan(x, j)
        if not varies:  # scanpy keeps a constant gene as it is
            n_constant += 1
            n_bad += not finite
            for i in range(n_cells):
                out[i, j] = x[i, j]  # race-free: gene j's own column
            continue
        b0, b1, fitted = _fit(x, j, order, starts, means, sums[numba.get_thread_id()])
        n_bad += not (finite and fitted)
        for c in range(n_cats):
            f = b0 + b1 * np.float64(means[c, j])
            for k in range(starts[c], starts[c + 1]):
                i = order[k]
                out[i, j] = x[i, j] - f  # race-free: gene j's own column
    return n_bad, n_constant
