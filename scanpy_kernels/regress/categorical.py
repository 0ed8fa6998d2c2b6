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
two regressors has a closed form (the normal equations of simple linear regression,
centred): with ``r_mean``, ``y_mean`` over all cells,
``b1 = sum((r - r_mean)(y - y_mean)) / sum((r - r_mean)^2)``, ``b0 = y_mean - b1 r_mean``.
If ``r`` is constant (one category with cells, or equal means) the columns are
collinear: the least-squares fit is ``y_mean``, but statsmodels' IRLS falls back to
another solver and returns residuals that are off by up to a few percent (measured:
coefficients ~3e13, residuals 0.038 from ``y - y_mean`` on log data); such genes are
counted, and the driver leaves the matrix to scanpy's code, which keeps its numbers.
``r`` takes one value per category, so the sums need the category counts ``n_c``,
sums ``S_c = sum(y)`` and means ``r_c``:
``sum((r - r_mean)(y - y_mean)) = sum_c (r_c - r_mean)(S_c - n_c y_mean)``.  The result
is the same least-squares solution computed in float64 by another route: it differs
from statsmodels' by float64 rounding (migration_tests/TOLERANCES.md states the bound).

:func:`regress_categorical` writes the residuals into a Fortran-ordered float64
``out`` (scanpy's ``np.vstack(res).T``), one gene per ``prange`` iteration, in two
passes over its column (the category sums in cell order, then the residuals), and
returns the regressor's category means (scanpy's, bit for bit).  It takes ``(x,
codes, counts, out)``: ``x`` the cells x genes array (any layout; a Fortran-ordered
one, as scanpy densifies a sparse matrix, reads each column contiguously), every
cell's category in ``[0, n_cats)`` and the number of cells of each category.
"""

from __future__ import annotations

import numba
import numpy as np

from ..toolkit import kernel, routine, signatures, thread_scratch

__all__ = ["regress_categorical"]

#: x, codes, counts, out
_SIGS = signatures(
    "Tuple((int64, int64, float32[:, ::1]))"
    "({d}[:, :], int64[::1], int64[::1], float64[::1, :])"
)


def _arrays(rng):
    out = []
    for dtype in (np.float32, np.float64):
        x = np.log1p(rng.negative_binomial(2, 0.3, (150, 30))).astype(dtype)
        x[:, 3] = 1.5  # constant: kept as it is
        x[:, 4] = 0.0
        codes = rng.integers(0, 4, 150)
        codes[codes == 2] = 1  # category 2 has no cells
        x[codes == 0, 5] = 7.0  # a gene with a category of one value
        counts = np.bincount(codes, minlength=4)
        out.extend((a, codes, counts) for a in (x, np.asfortranarray(x)))
    return out


def _examples(rng):
    return [(*args, np.empty(args[0].shape, order="F")) for args in _arrays(rng)]


@routine
def _column_sums(x, j, codes, same, wide):
    """Add gene ``j``'s values into its categories, in cell order; return its shape.

    ``same[c]``: in the data dtype from 0, numba's ``np.mean`` accumulator;
    ``wide[c]``: in float64.  Both zeroed first.  Returns ``(varies, finite)``:
    whether the gene is not constant, and whether every value is finite.
    """
    same[:] = 0
    wide[:] = 0
    first = x[0, j]
    varies = False
    finite = True
    for i in range(x.shape[0]):
        v = x[i, j]
        c = codes[i]
        same[c] += v
        wide[c] += v
        varies |= v != first
        finite &= np.isfinite(v)
    return varies, finite


@routine
def _means(same, counts, means, j):
    """Write numba's ``np.mean`` of each category, ``float64(sum) / count``, as float32.

    A category without cells gets NaN (0 / 0), never used.
    """
    for c in range(counts.shape[0]):
        means[c, j] = np.float64(same[c]) / np.float64(counts[c])


@routine
def _fit(wide, counts, means, j, fits):
    """Write the fitted value of each category into ``fits``; return whether it fits.

    Least squares on ``[1, r]`` from the category sums ``wide``; False (and the mean
    of the gene) where ``r`` is constant.
    """
    n_cells = 0
    y_total = 0.0
    r_total = 0.0
    for c in range(counts.shape[0]):
        if counts[c] > 0:  # an empty category's mean is NaN
            n_cells += counts[c]
            y_total += wide[c]
            r_total += counts[c] * np.float64(means[c, j])
    y_mean = y_total / n_cells
    r_mean = r_total / n_cells
    sxx = 0.0
    sxy = 0.0
    for c in range(counts.shape[0]):
        if counts[c] > 0:
            d = np.float64(means[c, j]) - r_mean
            sxx += counts[c] * d * d
            sxy += d * (wide[c] - counts[c] * y_mean)
    b1 = sxy / sxx if sxx > 0.0 else 0.0  # r constant: least squares fits the mean
    b0 = y_mean - b1 * r_mean
    for c in range(counts.shape[0]):
        fits[c] = b0 + b1 * np.float64(means[c, j])
    return sxx > 0.0


@kernel(signatures=_SIGS, example=_examples)
def regress_categorical(x, codes, counts, out):
    """Write each gene's least-squares residuals on ``[1, category mean]`` into ``out``.

    A constant gene is copied.  Returns ``(n_refused, n_constant, means)``: the genes
    the driver refuses (holding a NaN or an infinite value, or with a constant
    regressor: their columns are not scanpy's numbers), the constant genes, and the
    ``(n_cats, n_genes)`` float32 category means (scanpy's regressor).
    """
    n_cells, n_genes = x.shape
    n_cats = counts.shape[0]
    means = np.empty((n_cats, n_genes), np.float32)
    same = thread_scratch(n_cats, x.dtype)
    wide = thread_scratch(n_cats, np.float64)
    fits = thread_scratch(n_cats, np.float64)
    n_bad = 0
    n_constant = 0
    for j in numba.prange(n_genes):
        tid = numba.get_thread_id()
        varies, finite = _column_sums(x, j, codes, same[tid], wide[tid])
        _means(same[tid], counts, means, j)
        fitted = varies and _fit(wide[tid], counts, means, j, fits[tid])
        n_constant += not varies
        n_bad += not finite or (varies and not fitted)
        fit = fits[tid]
        for i in range(n_cells):
            v = x[i, j]
            # scanpy keeps a constant gene as it is
            out[i, j] = v - fit[codes[i]] if varies else v  # race-free: gene j's column
    return n_bad, n_constant, means
