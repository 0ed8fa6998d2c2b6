"""Regressing out continuous variables: ``regress_out(adata, keys)``, all genes at once.

scanpy 1.12.4 (``preprocessing/_simple.py``), for keys that are not one categorical
column and a regressor matrix ``R = [1, obs[keys]]`` (cells x k, float64) whose Gram
matrix is not singular, runs ``numpy_regress_out``: the least-squares coefficients of
every gene, ``C = inv(R^T R) @ (R^T X)`` (numpy; ``R^T X`` upcasts a float32 ``X`` to a
float64 copy of the whole matrix, then BLAS ``dgemm``), then, in place on the
densified ``X`` (C order), ``X[i] -= R[i] @ C`` (numba, parallel over cells; the
row product is BLAS ``dgemv``): each value becomes ``x - fitted`` computed in float64
and stored in the data dtype.

The kernels compute the same residuals without the float64 copy:

- ``R^T X`` by a column sweep (:mod:`.._columns`): each gene's ``k`` sums of
  ``R[i, q] * x`` accumulate in float64 in cell order, at any thread count (a sparse
  matrix adds only its stored values: the others add ``R[i, q] * 0 = 0``);
- ``C = inv(R^T R) @ (R^T X)`` with numpy, as scanpy computes it (the driver);
- per cell, ``fitted = sum_q R[i, q] * C[q, j]`` (float64, in order) and
  ``x - fitted`` stored in the data dtype: in place for an array (as scanpy), into a
  new C-ordered array for a CSR matrix (scanpy's densified copy; unstored values
  give ``0.0 - fitted``).

BLAS sums ``R^T X`` and ``R[i] @ C`` in its own blocked order, which no kernel
reproduces: the residuals equal scanpy's up to float64 rounding of the fitted values
(then the cast to the data dtype); migration_tests/TOLERANCES.md states the bound.

Both passes are scans over independent ranges, so the kernels are serial builds
that the driver splits over threads (``toolkit.split_range``: a serial kernel compiles
in a fraction of a ``prange``'s time, docs/kernel-guide.md "Compile time"), each
range giving the same bits at any thread count:

- :func:`regressor_products_csr` / ``_dense`` ``(*m.args, r, lo, hi, rtx)`` add the
  genes ``lo <= j < hi`` of ``R^T X`` into ``rtx`` (``(k, n_cols)`` float64, zeroed);
- :func:`regress_residuals_csr` ``(*m.args, r, coeff, lo, hi, out)`` writes the cells
  ``lo <= i < hi`` of a canonical CSR matrix into ``out`` (``(n_rows, n_cols)``,
  C order, the data dtype); :func:`regress_residuals_dense` ``(x, r, coeff, lo, hi)``
  overwrites those rows of ``x``.

``r`` ``(n_rows, k)`` and ``coeff`` ``(k, n_cols)`` are C-ordered float64.
"""

from __future__ import annotations

import numpy as np

from .._columns import (
    column_range,
    csr_entries,
    dense_entries,
    no_finish,
    sweep_blocks,
)
from ..toolkit import helper, kernel, matrix_args, routine, signatures, zeros1

__all__ = [
    "regress_residuals_csr",
    "regress_residuals_dense",
    "regressor_products_csr",
    "regressor_products_dense",
]

_CSR = "{d}[::1], {i}[::1], {i}[::1], int64, int64"
_F64 = "float64[:, ::1]"
#: data, indices, indptr, n_rows, n_cols, r, lo, hi, rtx
_PRODUCTS = signatures(f"none({_CSR}, {_F64}, int64, int64, {_F64})")
#: x, r, lo, hi, rtx
_DENSE_PRODUCTS = signatures(f"none({{d}}[:, ::1], {_F64}, int64, int64, {_F64})")
#: data, indices, indptr, n_rows, n_cols, r, coeff, lo, hi, out
_RESIDUALS = signatures(f"none({_CSR}, {_F64}, {_F64}, int64, int64, {{d}}[:, ::1])")
#: x (overwritten), r, coeff, lo, hi
_DENSE_RESIDUALS = signatures(f"none({{d}}[:, ::1], {_F64}, {_F64}, int64, int64)")


def _inputs(rng, fmt):
    out = []
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = np.log1p(rng.negative_binomial(1, 0.4, (130, 60)).astype(np.float64))
        x[rng.random(x.shape) < 0.5] = 0.0
        x[:, 4] = 0.0  # an empty gene
        x[7] = 0.0  # an empty cell
        r = np.ones((x.shape[0], 3))
        r[:, 1] = rng.normal(size=x.shape[0])
        r[:, 2] = rng.gamma(2.0, size=x.shape[0])
        out.append((matrix_args(x, fmt, dtype, index), r))
    return out


def _products_examples(rng, fmt="csr"):
    return [
        (*args, r, lo, hi, np.zeros((3, 60)))
        for args, r in _inputs(rng, fmt)
        for lo, hi in ((0, 60), (13, 41))
    ]


def _residuals_examples(rng, fmt="csr"):
    out = []
    for args, r in _inputs(rng, fmt):
        coeff = rng.normal(size=(3, 60))
        tail = (np.empty((130, 60), args[0].dtype),) if fmt == "csr" else ()
        out.extend((*args, r, coeff, lo, hi, *tail) for lo, hi in ((0, 130), (5, 77)))
    return out


@helper
def _products(state, i, b, j, x):
    """Add ``R[i, q] * x`` to ``(R^T X)[q, j]`` for each regressor ``q`` (cell order)."""
    rtx, r = state[0], state[1]  # (a tuple read by index: .._columns)
    for q in range(r.shape[1]):
        rtx[q, j] += r[i, q] * x


@routine
def _genes(n_rows, lo, hi):
    """Return the sweep's one column block ``[lo, hi)`` and every cell's group, 0."""
    bounds = np.empty(2, np.int64)
    bounds[0] = lo
    bounds[1] = hi
    return bounds, zeros1(n_rows, np.int64)


@helper
def _fitted(r, coeff, i, j):
    """Cell ``i``'s fitted value of gene ``j``: ``sum_q R[i, q] * C[q, j]``, in order."""
    s = 0.0
    for q in range(r.shape[1]):
        s += r[i, q] * coeff[q, j]
    return s


@kernel(signatures=_PRODUCTS, example=_products_examples, parallel=False)
def regressor_products_csr(data, indices, indptr, n_rows, n_cols, r, lo, hi, rtx):
    """Add genes ``lo <= j < hi`` of ``R^T X`` (canonical CSR) into ``rtx``."""
    bounds, codes = _genes(n_rows, lo, hi)
    mat = (data, indices, indptr, n_rows, n_cols)
    state = (rtx, r)
    sweep_blocks(mat, bounds, codes, state, csr_entries, _products, no_finish)


@kernel(
    signatures=_DENSE_PRODUCTS,
    example=lambda rng: _products_examples(rng, "dense"),
    parallel=False,
)
def regressor_products_dense(x, r, lo, hi, rtx):
    """Add genes ``lo <= j < hi`` of ``R^T X`` (a C-ordered array) into ``rtx``."""
    n_rows, n_cols = x.shape
    bounds, codes = _genes(n_rows, lo, hi)
    mat = (x, column_range(n_cols))
    state = (rtx, r)
    sweep_blocks(mat, bounds, codes, state, dense_entries, _products, no_finish)


@kernel(signatures=_RESIDUALS, example=_residuals_examples, parallel=False)
def regress_residuals_csr(data, indices, indptr, n_rows, n_cols, r, coeff, lo, hi, out):
    """Write cells ``lo <= i < hi`` of a canonical CSR matrix's residuals into ``out``."""
    for i in range(lo, hi):
        row = out[i]
        for j in range(n_cols):  # the densified row's zeros
            row[j] = 0.0 - _fitted(r, coeff, i, j)
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            row[j] = data[p] - _fitted(r, coeff, i, j)


@kernel(
    signatures=_DENSE_RESIDUALS,
    example=lambda rng: _residuals_examples(rng, "dense"),
    parallel=False,
)
def regress_residuals_dense(x, r, coeff, lo, hi):
    """Overwrite cells ``lo <= i < hi`` of a C-ordered array with their residuals."""
    for i in range(lo, hi):
        row = x[i]
        for j in range(x.shape[1]):
            row[j] = row[j] - _fitted(r, coeff, i, j)
