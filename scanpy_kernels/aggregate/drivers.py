"""Drivers of the aggregate kernels: a :class:`~.._input.Matrix` in, per-group arrays out.

What scanpy's ``get.aggregate`` (``Aggregate``) calls after validating its arguments,
and what ``rank_genes_groups`` and ``highly_variable_genes`` call for the same
statistics.  ``codes``: each row's group in ``[0, n_groups)``, ``-1`` for a row in no
group (masked out, or an unassigned category); see :mod:`.._groups`.  Each result
equals scanpy 1.12.4's bit for bit (see each kernel module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _welford as welford
from .._groups import call_grouped
from .median import group_medians_csc, group_medians_csr, group_medians_dense
from .sums import group_sums_csc, group_sums_csr, group_sums_dense

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from .._input import Matrix

__all__ = ["mean_var", "medians", "sums"]

_SUMS = dict(csr=group_sums_csr, csc=group_sums_csc, dense=group_sums_dense)
_MEAN_VAR = dict(
    csr=welford.welford_mean_var_csr,
    csc=welford.welford_mean_var_csc,
    dense=welford.welford_mean_var_dense,
)
_MEDIANS = dict(csr=group_medians_csr, csc=group_medians_csc, dense=group_medians_dense)


def sums(
    m: Matrix, codes: NDArray[np.integer], n_groups: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per-group float64 sums and nonzero counts, ``(n_groups, n_cols)`` each.

    ``aggregate(func="sum")`` and ``func="count_nonzero"`` in one pass (the mean is
    the sum over the group's rows).  A CSC matrix is summed in stored order.

    >>> import numpy as np, scipy.sparse as sp
    >>> from scanpy_kernels import as_matrix
    >>> x = sp.csr_array(np.array([[1.0, 0.0], [2.0, 5.0], [0.0, 3.0]]))
    >>> s, nnz = sums(as_matrix(x), np.array([0, 1, 0]), 2)
    >>> s.tolist(), nnz.tolist()
    ([[1.0, 3.0], [2.0, 5.0]], [[1, 1], [1, 1]])
    """
    return call_grouped(_SUMS, m, codes, n_groups)


def mean_var(
    m: Matrix, codes: NDArray[np.integer], n_groups: int, *, nonzeros: bool = False
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per-group ``(mean, var, count)``, ``var`` with ``dof=0``: ``Aggregate.mean_var``.

    Welford's update per group in row order (:mod:`.._welford`); a CSC matrix in
    stored order.  Sparse: a stored zero is a value of the update, as ``aggregate``
    takes the matrix as stored, and ``count`` holds the values taken; dense: ``count``
    has no columns.  With `nonzeros`, stored zeros are implicit ones (as after
    ``eliminate_zeros()``: ``rank_genes_groups``) and ``count`` holds the nonzeros in
    every format.  The caller applies ``dof`` (``var *= n / (n - dof)``).
    """
    # the kernels' last argument: skip_zeros (sparse) or count_nonzero (dense)
    return call_grouped(_MEAN_VAR, m, codes, n_groups, nonzeros)


def medians(m: Matrix, codes: NDArray[np.integer], n_groups: int) -> NDArray:
    """Per-group medians ``(n_groups, n_cols)`` in `m`'s dtype.

    Sparse: sklearn's ``csc_median_axis_0`` of each group's rows (a NaN ranks last);
    dense: ``np.median(axis=0)`` (a NaN makes the median NaN).  A group without rows
    gets NaN.

    >>> import numpy as np
    >>> from scanpy_kernels import as_matrix
    >>> x = np.array([[1.0, -2.0], [3.0, 0.0], [7.0, 4.0], [9.0, np.nan]])
    >>> medians(as_matrix(x), np.array([0, 0, 0, 1]), 2).tolist()
    [[3.0, 0.0], [9.0, nan]]
    """
    return call_grouped(_MEDIANS, m, codes, n_groups)
