"""What scanpy's ``normalize_total`` calls: a :class:`~.._input.Matrix` in, arrays out.

:func:`normalize_total` serves a CSR matrix taken as stored
(``as_matrix(x, stored=True)``); dense arrays and other inputs raise
:class:`~.._input.UnsupportedInputError` (the frontend keeps scanpy's code: numpy's
pairwise row sums and an in-place division).
"""

from __future__ import annotations

from numbers import Integral, Real
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .._input import UnsupportedInputError
from .scale import scale_rows
from .totals import NO_EXCLUSION, highly_expressed, row_totals

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .._input import Matrix

__all__ = ["Normalized", "normalize_total"]

#: ``scale_rows``' "sum the rows here"
_SUM_HERE = {dt: np.zeros(0, dt) for dt in (np.float32, np.float64)}


class Normalized(NamedTuple):
    """``normalize_total``'s results for a CSR matrix."""

    #: ``(nnz,)``: the scaled values, in the matrix's stored order (a new array)
    data: NDArray
    #: ``(n_cells,)``: ``norm_factor``, the totals divided by ``target_sum``
    factors: NDArray
    #: ``(n_genes,)`` bool: the highly expressed genes (left out of the totals), or
    #: ``None`` without ``exclude_highly_expressed``
    excluded: NDArray | None


def _float64_fraction(max_fraction: object) -> float:
    """``max_fraction`` as the float64 scanpy's kernel multiplies with.

    numba types a Python or numpy float64 or integer as float64 in the product; a
    float32 (or bool) would multiply in float32: such calls keep scanpy's code.
    """
    if isinstance(max_fraction, float | Integral) and not isinstance(
        max_fraction, bool | np.bool_
    ):
        return float(max_fraction)
    msg = f"max_fraction of type {type(max_fraction).__name__}"
    raise UnsupportedInputError(msg)


def normalize_total(
    m: Matrix,
    *,
    target_sum: float | None,
    exclude_highly_expressed: bool = False,
    max_fraction: float = 0.05,
) -> Normalized:
    """Return scanpy's ``normalize_total`` of a CSR matrix: values, factors, genes left out.

    scanpy 1.12.4's ``_normalize_total_helper``: the per-cell totals
    (:func:`.totals.row_totals`; with ``exclude_highly_expressed`` the genes above
    ``max_fraction`` of a cell's total, :func:`.totals.highly_expressed`, are left
    out of a second sum), ``target_sum`` the median of the nonzero totals if
    ``None``, ``factors = totals / target_sum`` (numpy, so its dtype rules), and each
    row divided by its factor (zeros replaced by 1, :func:`.scale.scale_rows`, which
    also sums the rows when ``target_sum`` is given: one pass).

    Raises
    ------
    UnsupportedInputError
        For a matrix that is not CSR, a ``target_sum`` that is not a real number, or
        a ``max_fraction`` numba would not multiply as float64.
    ValueError
        With ``exclude_highly_expressed``, for column indices outside the matrix.

    >>> import scipy.sparse as sp
    >>> from scanpy_kernels import as_matrix
    >>> x = sp.csr_array(np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 2.0]], np.float32))
    >>> r = normalize_total(as_matrix(x, stored=True), target_sum=None)
    >>> r.data.tolist(), r.factors.tolist(), r.excluded
    ([1.0, 3.0, 2.0, 2.0], [1.0, 1.0], None)
    >>> r = normalize_total(
    ...     as_matrix(x, stored=True),
    ...     target_sum=1,
    ...     exclude_highly_expressed=True,
    ...     max_fraction=0.6,
    ... )
    >>> r.factors.tolist(), r.excluded.tolist()
    ([1.0, 2.0], [False, False, True])
    """
    if m.fmt != "csr":
        msg = f"normalize_total's kernels take CSR matrices, not {m.fmt}"
        raise UnsupportedInputError(msg)
    if not (target_sum is None or isinstance(target_sum, Real | np.number)):
        msg = f"target_sum of type {type(target_sum).__name__}"
        raise UnsupportedInputError(msg)
    excluded = None
    if exclude_highly_expressed:
        totals, excluded = _exclude_high(m, _float64_fraction(max_fraction))
    elif target_sum is None:
        totals = row_totals(*m.args, NO_EXCLUSION)
    else:
        totals = _SUM_HERE[m.data.dtype.type]  # summed while scaling: one pass
    if target_sum is None:
        target_sum = np.median(totals[totals > 0])  # scanpy's _compute_nnz_median
    dtype = np.result_type(m.data.dtype, target_sum)  # of `totals / target_sum`
    if dtype != m.data.dtype:  # a float64 target_sum: numpy's float64 values
        if totals.size == 0:
            totals = row_totals(*m.args, NO_EXCLUSION)
        factors = totals / target_sum
        divisors = factors.copy() + (factors == 0)  # allow_divide_by_zero=False
        return Normalized(
            m.data / np.repeat(divisors, np.diff(m.indptr)), factors, excluded
        )
    out = np.empty_like(m.data)  # numpy's allocator: huge pages (see .scale)
    factors = scale_rows(*m.args, totals, dtype.type(target_sum), out)
    return Normalized(out, factors, excluded)


def _exclude_high(m: Matrix, max_fraction: float) -> tuple[NDArray, NDArray]:
    """Return the totals over the genes that are not highly expressed, and those genes."""
    excluded, n_bad = highly_expressed(
        *m.args, row_totals(*m.args, NO_EXCLUSION), max_fraction
    )
    if n_bad:
        msg = (
            f"The sparse matrix's index arrays are corrupt: {n_bad} column "
            f"indices lie outside the matrix of shape {m.shape}."
        )
        raise ValueError(msg)
    return row_totals(*m.args, excluded), excluded
