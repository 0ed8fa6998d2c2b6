"""What scanpy's ``regress_out`` calls: a dense array and category codes in, residuals out.

:func:`regress_out_categorical` serves ``regress_out`` on one categorical key: the
regressor (scanpy's category means, bit for bit) and each gene's least-squares
residuals (:func:`.categorical.regress_categorical`: statsmodels' GLM fit in closed
form).  It takes the array scanpy regresses (dense, after its
``to_dense(order="F")`` of a sparse matrix), in either memory order, as it is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._input import FLOATS, UnsupportedInputError
from .categorical import regress_categorical

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["regress_out_categorical"]


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
