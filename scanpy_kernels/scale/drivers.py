"""What scanpy's ``scale`` calls: a :class:`~.._input.Matrix` in, arrays out.

:func:`scale` serves a CSR matrix taken as stored (``as_matrix(x, stored=True)``)
or a C-contiguous array, without ``mask_obs``: the genes' means and standard
deviations (fast-array-utils' ``mean_var``, bit for bit: :func:`..hvg.mean_var`),
then for CSR either the dense zero-centred array (:func:`.center.center_scale_csr`)
or the stored values scaled in place (:func:`.values.scale_values_csr`), for an
array its values centred and scaled in place (:func:`.center.scale_dense`).  CSC
matrices and duplicate entries raise :class:`~.._input.UnsupportedInputError`
(scanpy's code).
"""

from __future__ import annotations

from numbers import Real
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .._input import DuplicateEntriesError, UnsupportedInputError, sorted_indices
from ..hvg import mean_var
from .center import center_scale_csr, scale_dense
from .values import scale_values_csr

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .._input import Matrix

__all__ = ["Scaled", "scale"]


class Scaled(NamedTuple):
    """``scale``'s results."""

    #: CSR and ``zero_center``: the ``(n_cells, n_genes)`` float64 array; an array:
    #: ``m.data``, scaled in place; else ``None``
    dense: NDArray | None
    #: not ``zero_center``: the matrix's stored values, scaled in place (``m.data``:
    #: the caller's array unless ``as_matrix`` had to copy it), else ``None``
    values: NDArray | None
    #: ``(n_genes,)`` float64: the genes' means
    mean: NDArray[np.float64]
    #: ``(n_genes,)`` float64: their standard deviations (``ddof=1``; 0 replaced by 1)
    std: NDArray[np.float64]


def _max_value(max_value: object) -> float:
    """``max_value`` as the float64 scanpy's numba code compares with; None: none."""
    if max_value is None:
        return np.inf
    if isinstance(max_value, Real | np.integer | np.floating) and not isinstance(
        max_value, bool | np.bool_
    ):
        return float(max_value)
    msg = f"max_value of type {type(max_value).__name__}"
    raise UnsupportedInputError(msg)


def _mean_std(m: Matrix) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return scanpy's ``mean_var(x, axis=0, correction=1)``, ``std`` 0 replaced by 1."""
    if m.fmt == "csr":
        try:
            m = sorted_indices(m)  # the moments' kernel searches rows; checks indices
        except DuplicateEntriesError as e:
            msg = "a matrix with duplicate entries"
            raise UnsupportedInputError(msg) from e
    codes = np.zeros(m.shape[0], dtype=np.int64)
    mean, var, _ = mean_var(m, codes, 1, correction=1)
    mean, std = mean[0], np.sqrt(var[0])
    std[std == 0] = 1
    return mean, std


def scale(
    m: Matrix, *, zero_center: bool = True, max_value: float | None = None
) -> Scaled:
    """Return scanpy's ``scale`` of a CSR matrix or an array, without ``mask_obs``.

    CSR, ``zero_center``: ``(x - mean) / std`` as a new dense float64 array, clipped
    to ``[-max_value, max_value]``; else each stored value of ``m.data`` is divided
    by its gene's ``std`` (and capped at ``max_value``) *in place*.  An array is
    centred (with ``zero_center``), scaled and clipped in place, in its dtype.  In
    place is what scanpy does too.

    Raises
    ------
    UnsupportedInputError
        For a CSC matrix, or one that stores an entry twice (scanpy's numbers then
        depend on how they are stored), or a ``max_value`` that is not a number.
    ValueError
        For corrupt index arrays.

    >>> import scipy.sparse as sp
    >>> from scanpy_kernels import as_matrix
    >>> x = sp.csr_array(np.array([[1.0, 0.0], [3.0, 2.0]]))
    >>> s = scale(as_matrix(x, stored=True))
    >>> s.dense.round(4).tolist(), s.mean.tolist(), s.std.round(4).tolist()
    ([[-0.7071, -0.7071], [0.7071, 0.7071]], [2.0, 1.0], [1.4142, 1.4142])
    """
    if m.fmt == "csc":
        msg = "scale's kernels take CSR matrices and arrays, not CSC"
        raise UnsupportedInputError(msg)
    a_max = _max_value(max_value)
    mean, std = _mean_std(m)
    if m.fmt == "dense":
        scale_dense(m.data, mean, std, a_max, zero_center)
        return Scaled(m.data, None, mean, std)
    if not zero_center:
        scale_values_csr(*m.args, std, a_max, max_value is not None)
        return Scaled(None, m.data, mean, std)
    background = (0.0 - mean) / std  # a row without values, as scanpy computes it
    background = np.where(background > a_max, a_max, background)
    background = np.where(background < -a_max, -a_max, background)
    out = np.empty(m.shape, dtype=np.float64)  # numpy's allocator: huge pages
    center_scale_csr(*m.args, mean, std, a_max, background, out)
    return Scaled(out, None, mean, std)
