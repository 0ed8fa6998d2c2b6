"""scipy's ``tocsr()`` of a canonical CSC ``vals``, in parallel, widened to float64.

scanpy's ``vals`` for a CSR ``X`` is ``X.T``: a CSC matrix (features x cells, one
sorted run of features per cell), which scanpy's ``_resolve_vals`` turns into CSR
(``tocsr()``: scipy's serial ``csr_tocsc``) and, later, into float64
(``astype``).  For a canonical matrix both give each feature's values in cell order;
the kernels here build that CSR in parallel over chunks of features:
:func:`feature_counts` counts each feature's entries, then :func:`transpose_fill`
writes them (float64, exact for float32) in cell order.  Each cell's run is searched
once per chunk for the chunk's features (binary search).
"""

from __future__ import annotations

import numba
import numpy as np

from .._columns import lower_bound
from ..toolkit import (
    helper,
    kernel,
    matrix_args,
    num_threads,
    signatures,
    thread_scratch,
)

__all__ = ["feature_counts", "transpose_fill"]

#: indices, indptr (per cell), n_rows, n_cols, counts
_COUNT_SIGS = signatures("none({i}[::1], {i}[::1], int64, int64, int64[::1])")
#: data, indices, indptr, n_rows, n_cols, out_indptr, out_data, out_indices
_FILL_SIGS = signatures(
    "none({d}[::1], {i}[::1], {i}[::1], int64, int64, int64[::1], float64[::1], "
    "{i}[::1])"
)
#: chunks of features per thread (unequal chunks balance out)
CHUNKS = 4


def _matrices(rng):
    """Features x cells, CSC: sparse rows, an empty feature, an empty cell."""
    out = []
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = rng.random((23, 40))
        x[x < 0.6] = 0.0
        x[4] = 0.0
        x[:, 7] = 0.0
        out.append((x, matrix_args(x, "csc", dtype, index)))
    return out


def _count_example(rng):
    return [(*args[1:], np.zeros(x.shape[0], np.int64)) for x, args in _matrices(rng)]


def _fill_example(rng):
    out = []
    for x, args in _matrices(rng):
        counts = np.count_nonzero(x, axis=1)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        nnz = int(indptr[-1])
        out.append((*args, indptr, np.zeros(nnz), np.zeros(nnz, args[1].dtype)))
    return out


@helper
def _chunk(n, c, n_chunks):
    """Features ``lo <= k < hi`` of chunk ``c``."""
    return n * c // n_chunks, n * (c + 1) // n_chunks


@kernel(signatures=_COUNT_SIGS, example=_count_example)
def feature_counts(indices, indptr, n_rows, n_cols, counts):
    """Write to ``counts[k]`` the entries of feature ``k`` (a chunk of features each)."""
    n_chunks = CHUNKS * num_threads()
    for c in numba.prange(n_chunks):
        lo, hi = _chunk(n_rows, c, n_chunks)
        for i in range(n_cols):
            p0 = lower_bound(indices, indptr[i], indptr[i + 1], lo)
            p1 = lower_bound(indices, p0, indptr[i + 1], hi)
            for p in range(p0, p1):
                counts[indices[p]] += 1  # race-free: feature k is the chunk's


@kernel(signatures=_FILL_SIGS, example=_fill_example)
def transpose_fill(data, indices, indptr, n_rows, n_cols, out_indptr, out_data, out_indices):  # fmt: skip
    """Write the features as CSR rows at ``out_indptr``, cells in order, float64."""
    n_chunks = CHUNKS * num_threads()
    cursors = thread_scratch(n_rows, np.int64)
    for c in numba.prange(n_chunks):
        cursor = cursors[numba.get_thread_id()]
        lo, hi = _chunk(n_rows, c, n_chunks)
        for k in range(lo, hi):
            cursor[k] = out_indptr[k]
        for i in range(n_cols):
            p0 = lower_bound(indices, indptr[i], indptr[i + 1], lo)
            p1 = lower_bound(indices, p0, indptr[i + 1], hi)
            for p in range(p0, p1):
                k = indices[p]
                q = cursor[k]
                out_data[q] = np.float64(data[p])  # race-free: the chunk's features
                out_indices[q] = i  # race-free: q is in the chunk's own features' rows
                cursor[k] = q + 1
