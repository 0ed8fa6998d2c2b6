"""What scanpy's ``morans_i`` / ``gearys_c`` call: :class:`~.._input.Matrix` in, arrays out.

Both take ``vals`` (features x cells) as scanpy's ``_SparseMetric`` hands it to
``mtx``, through ``as_matrix(vals, stored=True, strided=True)``: a CSR matrix as
stored (any order, duplicates too, as scanpy scatters it) or an array in any memory
order (``X.T`` of an array is Fortran-ordered), and the graph as stored; the kernels
of :mod:`.autocorr` are parallel over blocks of features, each feature's sums in
scanpy's order, so the result does not depend on the thread count.  Before that,
scanpy's ``tocsr()`` of a CSC ``vals`` (``X.T`` of a CSR ``X``) is
:func:`features_major`, in parallel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._input import (
    CANONICAL,
    Matrix,
    UnsupportedInputError,
    _index_dtype,
    _structure,
    corrupt_error,
)
from .autocorr import (
    gearys_c_csr,
    gearys_c_dense,
    graph_weight,
    morans_i_csr,
    morans_i_dense,
)
from .transpose import feature_counts, transpose_fill

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import NDArray

__all__ = ["features_major", "gearys_c", "morans_i"]

_MORANS_I = {"csr": morans_i_csr, "dense": morans_i_dense}
_GEARYS_C = {"csr": gearys_c_csr, "dense": gearys_c_dense}


def _in_range(indices: NDArray, n: int) -> bool:
    return indices.size == 0 or (indices.min() >= 0 and indices.max() < n)


def features_major(vals: Matrix) -> Matrix:
    """Return a canonical CSC ``vals`` as CSR with float64 values, in parallel.

    What scanpy's ``tocsr()`` and then ``astype(np.float64)`` give (each feature's
    values in cell order), in parallel over chunks of features (:mod:`.transpose`).

    Raises
    ------
    UnsupportedInputError
        For a matrix that is not CSC, or not canonical (unsorted runs, duplicates):
        scanpy's ``tocsr()`` keeps their order and duplicates, and its ``astype``
        sums a float32 matrix's duplicates.

    >>> import scipy.sparse as sp
    >>> from scanpy_kernels import as_matrix
    >>> x = sp.csc_array(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 4.0]], np.float32))
    >>> m = features_major(as_matrix(x, stored=True))
    >>> m.fmt, m.data.tolist(), m.indices.tolist(), m.indptr.tolist()
    ('csr', [1.0, 2.0, 3.0, 4.0], [0, 2, 1, 2], [0, 2, 4])
    """
    if vals.fmt != "csc" or _structure(vals) != CANONICAL:
        msg = "a matrix that is not a canonical CSC matrix"
        raise UnsupportedInputError(msg)
    counts = np.zeros(vals.shape[0], np.int64)
    feature_counts(vals.indices, vals.indptr, *vals.shape, counts)
    indptr = np.zeros(vals.shape[0] + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    data = np.empty(vals.data.size, np.float64)
    indices = np.empty(vals.data.size, vals.indices.dtype)
    transpose_fill(*vals.args, indptr, data, indices)
    indptr = indptr.astype(indices.dtype, copy=False)
    return Matrix("csr", data, indices, indptr, vals.shape)


def _per_feature(vals: Matrix, graph: Matrix, kernels: dict[str, Callable]) -> NDArray:
    """Run ``kernels[vals.fmt]`` over all of ``vals``' rows; check the inputs first."""
    n_features, n_cells = vals.shape
    if graph.fmt != "csr" or graph.shape != (n_cells, n_cells):
        msg = (
            f"the graph must be a CSR matrix of shape {(n_cells, n_cells)}, "
            f"not {graph.fmt} {graph.shape}"
        )
        raise ValueError(msg)
    if vals.fmt == "csc":
        msg = "vals must be CSR or an array (a CSC matrix: `features_major` first)"
        raise ValueError(msg)
    if not _in_range(graph.indices, n_cells):
        raise corrupt_error(graph)
    if vals.fmt == "csr" and not _in_range(vals.indices, n_cells):
        raise corrupt_error(vals)
    # one index dtype for graph and vals, the input layer's rule
    indexed = (graph,) if vals.fmt == "dense" else (graph, vals)
    index = _index_dtype(*(m.indices.dtype for m in indexed))
    g = (
        np.asarray(graph.data, np.float64),  # scanpy: graph.astype(np.float64)
        graph.indices.astype(index, copy=False),
        graph.indptr.astype(index, copy=False),
    )
    args = (vals.data,)
    if vals.fmt != "dense":
        parts = (vals.indices, vals.indptr)
        args += (*(a.astype(index, copy=False) for a in parts), *vals.shape)
    if (w := graph_weight(g[0])) == 0.0:  # scanpy's `n / w`: numba's error, as it was
        msg = "division by zero"
        raise ZeroDivisionError(msg)
    out = np.empty(n_features, np.float64)
    kernels[vals.fmt](*args, *g, w, 0, n_features, out)
    return out


def morans_i(vals: Matrix, graph: Matrix) -> NDArray[np.float64]:
    """Return Moran's I of each row of ``vals`` on ``graph``, as scanpy 1.12.4's ``mtx``.

    Raises
    ------
    ValueError
        For a graph that is not a square CSR matrix over ``vals``' cells, and for
        indices outside their matrix.
    ZeroDivisionError
        For a graph whose weights sum to 0, as scanpy's numba code did.

    >>> import scipy.sparse as sp
    >>> from scanpy_kernels import as_matrix
    >>> g = as_matrix(sp.csr_array(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0.0]])))
    >>> vals = as_matrix(np.array([[1.0, 2.0, 4.0], [1.0, 0.0, 1.0]]))
    >>> morans_i(vals, g).round(6).tolist()
    [-0.035714, -1.0]
    """
    return _per_feature(vals, graph, _MORANS_I)


def gearys_c(vals: Matrix, graph: Matrix) -> NDArray[np.float64]:
    """Return Geary's C of each row of ``vals`` on ``graph``, as scanpy 1.12.4's ``mtx``.

    Raises
    ------
    ValueError
        As :func:`morans_i`.

    >>> import scipy.sparse as sp
    >>> from scanpy_kernels import as_matrix
    >>> g = as_matrix(sp.csr_array(np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0.0]])))
    >>> vals = as_matrix(sp.csr_array(np.array([[1.0, 2.0, 4.0], [1.0, 0.0, 1.0]])))
    >>> gearys_c(vals, g).round(6).tolist()
    [0.535714, 1.5]
    """
    return _per_feature(vals, graph, _GEARYS_C)
