"""What scanpy's ``regress_out`` calls: a matrix and its regressors in, residuals out.

:func:`regress_out_categorical` serves ``regress_out`` on one categorical key: the
regressor (scanpy's category means, bit for bit) and each gene's least-squares
residuals (:func:`.categorical.regress_categorical`: statsmodels' GLM fit in closed
form).  It takes the array scanpy regresses (dense, after its
``to_dense(order="F")`` of a sparse matrix), in either memory order, as it is.

:func:`regress_out_continuous` serves the other keys (scanpy's ``numpy_regress_out``:
one least-squares fit of every gene on ``[1, obs[keys]]``): a CSR matrix without
densifying it first, or a C-ordered array in place (:mod:`.continuous`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._input import (
    FLOATS,
    DuplicateEntriesError,
    UnsupportedInputError,
    sorted_indices,
)
from ..toolkit import split_range
from .categorical import regress_categorical
from .continuous import (
    regress_residuals_csr,
    regress_residuals_dense,
    regressor_products_csr,
    regressor_products_dense,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .._input import Matrix

__all__ = ["regress_out_categorical", "regress_out_continuous"]


def regress_out_categorical(
    x: NDArray, codes: NDArray, n_cats: int
) -> NDArray[np.float64]:
    """Return scanpy's ``regress_out`` residuals of `x` on one categorical variable.

    Parameters
    ----------
    x
        ``(n_cells, n_genes)`` float32/float64 array, C or Fortran order.
    codes
        Each cell's category in ``[0, n_cats)`` (pandas' codes).
    n_cats
        Number of categories (unused ones included).

    Returns
    -------
    ``(n_cells, n_genes)``, Fortran order: float64 (float32 if every gene is constant
    and `x` is float32, as scanpy's stacking of the kept columns gives).

    Raises
    ------
    UnsupportedInputError
        For other arrays or dtypes, cells without a category (code -1), and genes with
        NaN or infinite values or whose category means are all equal (statsmodels' fit
        decides what those give: see :mod:`.categorical`).

    >>> x = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]], np.float32)
    >>> regress_out_categorical(x, np.array([0, 0, 1]), 2).tolist()
    [[-1.0, 2.0], [1.0, 2.0], [0.0, 2.0]]
    """
    if not (
        isinstance(x, np.ndarray)
        and x.ndim == 2
        and x.dtype in FLOATS
        and x.dtype.isnative
        and (x.flags.c_contiguous or x.flags.f_contiguous)
    ):
        msg = "regress_out's kernels take C- or Fortran-ordered float32/64 arrays"
        raise UnsupportedInputError(msg)
    codes = np.asarray(codes).astype(np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >= n_cats):
        msg = "cells without a category"
        raise UnsupportedInputError(msg)
    if x.shape[0] == 0 or x.shape[1] == 0:
        msg = "an empty matrix"
        raise UnsupportedInputError(msg)
    counts = np.bincount(codes, minlength=n_cats).astype(np.int64)
    out = np.empty(x.shape, dtype=np.float64, order="F")  # numpy's allocator
    n_refused, n_constant, _ = regress_categorical(x, codes, counts, out)
    if n_refused:
        msg = "genes with NaN or infinite values, or equal category means"
        raise UnsupportedInputError(msg)
    if x.dtype == np.float32 and n_constant == x.shape[1]:
        return out.astype(np.float32, order="F")  # np.vstack of float32 columns
    return out


def regress_out_continuous(m: Matrix, regressors: NDArray) -> NDArray:
    """Return scanpy's ``numpy_regress_out`` residuals of `m` on `regressors`.

    Parameters
    ----------
    m
        The cells x genes matrix: CSR (as stored: sorted on a copy if need be), or a
        C-ordered array, which is overwritten with the residuals (as scanpy does).
    regressors
        ``(n_cells, k)`` float64, scanpy's ``[1, obs[keys]]``, finite, with a Gram
        matrix ``R^T R`` that scanpy found invertible (``det != 0``).

    Returns
    -------
    ``(n_cells, n_genes)`` C-ordered, in the data dtype: the array of `m`, or for a
    CSR matrix a new one (scanpy's densified copy).

    Raises
    ------
    UnsupportedInputError
        For CSC matrices, CSR matrices storing an entry twice (scanpy densifies them:
        its sums of the duplicates decide the values), other regressor dtypes, and
        NaN or infinite regressors.

    >>> from scanpy_kernels import as_matrix
    >>> x = np.array([[1.0, 2.0], [2.0, 4.0], [4.0, 5.0]])  # gene 0 = 1 + key
    >>> r = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 3.0]])  # [1, key]
    >>> np.abs(regress_out_continuous(as_matrix(x), r)).round(4).tolist()
    [[0.0, 0.4286], [0.0, 0.6429], [0.0, 0.2143]]
    """
    r = regressors
    if not (
        isinstance(r, np.ndarray)
        and r.dtype == np.float64
        and r.shape[:1] == m.shape[:1]
        and r.ndim == 2
        and np.isfinite(r).all()
    ):
        msg = "regressors that are not a finite float64 (n_cells, k) array"
        raise UnsupportedInputError(msg)
    if m.fmt == "csc":
        msg = "the continuous regression kernels take CSR matrices and arrays, not CSC"
        raise UnsupportedInputError(msg)
    if m.fmt == "csr":
        try:
            m = sorted_indices(m)
        except DuplicateEntriesError as e:
            msg = "a matrix storing an entry twice"
            raise UnsupportedInputError(msg) from e
    r = np.ascontiguousarray(r)
    n_rows, n_cols = m.shape
    rtx = np.zeros((r.shape[1], n_cols))
    products = regressor_products_csr if m.fmt == "csr" else regressor_products_dense
    split_range(lambda lo, hi: products(*m.args, r, lo, hi, rtx), n_cols, min_size=64)
    coeff = np.linalg.inv(r.T @ r) @ rtx  # scanpy's, on R^T X summed in cell order
    if m.fmt == "dense":  # in place, as scanpy
        out = m.data
        split_range(
            lambda lo, hi: regress_residuals_dense(out, r, coeff, lo, hi),
            n_rows,
            min_size=256,
        )
        return out
    out = np.empty(m.shape, dtype=m.data.dtype)  # numpy's allocator: huge pages
    split_range(
        lambda lo, hi: regress_residuals_csr(*m.args, r, coeff, lo, hi, out),
        n_rows,
        min_size=256,
    )
    return out
