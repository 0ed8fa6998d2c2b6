"""What scanpy's QC frontends call: a :class:`~.._input.Matrix` in, arrays out.

:func:`obs_sums` and :func:`var_sums` serve ``describe_obs`` / ``describe_var`` (and
so ``calculate_qc_metrics``) on a canonical CSR matrix or a C-contiguous array.  CSC
raises :class:`~.._input.UnsupportedInputError` (the frontend keeps scanpy's code: its
sums go column by column, its proportions through a CSR copy).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .._input import UnsupportedInputError
from .columns import qc_columns_csr, qc_columns_dense
from .rows import qc_rows_csr, qc_rows_dense

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

    from .._input import Matrix

__all__ = ["ObsSums", "VarSums", "obs_sums", "var_sums"]


class ObsSums(NamedTuple):
    """Per-cell sums: ``describe_obs``' ``total``, ``total_<qc_var>``, ``pct_*_in_top_n``."""

    #: ``(n_cells,)``, the data dtype: ``stats.sum(x, axis=1)``
    totals: NDArray
    #: ``(n_masks, n_cells)``, the data dtype: ``stats.sum(x[:, masks[q]], axis=1)``
    masked: NDArray
    #: ``(n_cells, len(ns))`` float64: ``top_segment_proportions(x, ns)`` (sorted
    #: ``ns``); the frontend's own fallback leaves it ``None`` without ``percent_top``
    top: NDArray | None


class VarSums(NamedTuple):
    """Per-gene sums: ``describe_var``'s ``total`` (``mean = totals / n_cells``)."""

    #: ``(n_genes,)``, the data dtype: ``stats.sum(x, axis=0)``
    totals: NDArray
    #: ``(n_genes,)`` int64: ``axis_nnz(x, axis=0)``
    n_cells: NDArray


def _not_csc(m: Matrix) -> None:
    if m.fmt == "csc":
        msg = "the QC kernels take CSR and dense arrays, not CSC"
        raise UnsupportedInputError(msg)


def _numpy_top_sums(x: NDArray, ns: NDArray[np.int64]) -> NDArray[np.float64]:
    """Return scanpy's dense ``top_segment_proportions`` before its division, on ``x``.

    numpy's ``np.partition`` orders each row on its own, so a subset of rows gets the
    same order (and the same float sums) as in the whole matrix.
    """
    part = np.apply_along_axis(np.partition, 1, x, x.shape[1] - ns)[:, ::-1][
        :, : ns[-1]
    ]
    out = np.zeros((x.shape[0], ns.size))
    acc = np.zeros(x.shape[0])
    prev = 0
    for j, n in enumerate(ns):
        acc += part[:, prev:n].sum(axis=1)
        out[:, j] = acc
        prev = n
    return out


def obs_sums(m: Matrix, masks: Sequence[ArrayLike], ns: Sequence[int]) -> ObsSums:
    """Return the per-cell sums of a canonical CSR matrix or array, in one row pass.

    Parameters
    ----------
    m
        The matrix (cells x genes), explicit zeros eliminated as scanpy does first.
    masks
        One numpy bool array of ``n_genes`` per ``qc_var`` (its genes).  Other
        arrays raise :class:`~.._input.UnsupportedInputError`: scanpy indexes with
        them as they are (integer positions, pandas' nullable booleans).
    ns
        ``percent_top``: positions ``1 <= n <= n_genes`` (sorted here; may be empty).

    >>> import scipy.sparse as sp
    >>> from scanpy_kernels import as_matrix
    >>> x = sp.csr_array(np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 2.0]], np.float32))
    >>> s = obs_sums(as_matrix(x), [np.array([True, False, False])], [2, 1])
    >>> s.totals.tolist(), s.masked.tolist(), s.top.tolist()
    ([4.0, 4.0], [[1.0, 0.0]], [[0.75, 1.0], [0.5, 1.0]])
    """
    _not_csc(m)
    if not all(
        isinstance(mask, np.ndarray)
        and mask.dtype == bool
        and mask.shape == m.shape[1:]
        for mask in masks
    ):
        msg = "the QC kernels take qc_vars as numpy bool arrays over the genes"
        raise UnsupportedInputError(msg)
    masks = np.array(masks, dtype=bool).reshape((len(masks), m.shape[1]))
    ns = np.sort(np.asarray(ns).astype(np.int64).ravel())
    if m.fmt == "csr":
        return ObsSums(*qc_rows_csr(*m.args, masks, ns))
    totals, masked, sums, unsettled = qc_rows_dense(m.data, masks, ns)
    if m.shape[0] == 1:  # x[:, mask] of one row is C-contiguous: numpy sums it pairwise
        masked = np.array([np.sum(m.data[:, mask], axis=1) for mask in masks])
        masked = masked.reshape((len(masks), 1)).astype(m.data.dtype, copy=False)
    if ns.size == 0:
        return ObsSums(totals, masked, sums)
    rows = np.flatnonzero(unsettled)
    if rows.size:
        sums[rows] = _numpy_top_sums(m.data[rows], ns)
    return ObsSums(totals, masked, sums / totals[:, None])  # scanpy's division


def var_sums(m: Matrix) -> VarSums:
    """Return the per-gene sums and nonzero counts of a canonical CSR matrix or array.

    >>> import scipy.sparse as sp
    >>> from scanpy_kernels import as_matrix
    >>> x = sp.csr_array(np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 2.0]], np.float32))
    >>> s = var_sums(as_matrix(x))
    >>> s.totals.tolist(), s.n_cells.tolist()
    ([1.0, 2.0, 5.0], [1, 1, 2])
    """
    _not_csc(m)
    kernel = qc_columns_csr if m.fmt == "csr" else qc_columns_dense
    return VarSums(*kernel(*m.args))
