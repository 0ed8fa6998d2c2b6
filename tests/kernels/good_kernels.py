"""Kernels that follow the rules; the verifier must pass every one of them."""

from __future__ import annotations

import numba
import numpy as np

from scanpy_kernels.toolkit import assume, combine_partials, kernel, thread_partials, vectorize


def _csr(rng, dtype=np.float64, n_rows=200, n_cols=50):
    nnz_per_row = rng.integers(0, n_cols // 2, n_rows)
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(nnz_per_row, out=indptr[1:])
    indices = np.concatenate(
        [np.sort(rng.choice(n_cols, k, replace=False)) for k in nnz_per_row]
    ).astype(np.int32)
    data = rng.random(indptr[-1]).astype(dtype)
    return data, indices, indptr, n_cols


@kernel(
    signatures=["float64[::1](float32[::1], int64[::1])", "float64[::1](float64[::1], int64[::1])"],
    example=lambda rng: [_csr(rng, np.float32)[::2], _csr(rng)[::2]],
)
def csr_row_sums(data, indptr):
    """Sum of each CSR row: a prange over rows, a hinted inner loop."""
    n = indptr.shape[0] - 1
    out = np.empty(n)
    for r in numba.prange(n):
        s = 0.0
        vectorize(data)  # reorders this row's sum only
        for k in range(indptr[r], indptr[r + 1]):
            s += data[k]
        out[r] = s
    return out


@kernel(
    signatures=["float64[::1](float64[::1], int32[::1], int64[::1], int64)"],
    example=lambda rng: [(*_csr(rng)[:3], 50)],
    tolerance=1e-12,
)
def csr_col_sums(data, indices, indptr, n_cols):
    """Column sums by per-thread partials, combined in thread order."""
    partials = thread_partials(n_cols, np.float64)
    for r in numba.prange(indptr.shape[0] - 1):
        acc = partials[numba.get_thread_id()]
        for k in range(indptr[r], indptr[r + 1]):
            j = indices[k]
            assume(j >= 0)
            acc[j] += data[k]
    return combine_partials(partials, n_cols)


def _scale_example(rng):
    data, _, indptr, _ = _csr(rng)
    return data, indptr, rng.random(indptr.shape[0] - 1)


@kernel(
    signatures=["float64[::1](float64[::1], int64[::1], float64[::1])"],
    example=lambda rng: [_scale_example(rng)],
)
def csr_scale_rows(data, indptr, scale):
    """Disjoint writes a static check cannot prove: each row owns its indptr range."""
    out = np.empty_like(data)
    for r in numba.prange(indptr.shape[0] - 1):
        for k in range(indptr[r], indptr[r + 1]):
            out[k] = data[k] * scale[r]  # race-free: row r owns data[indptr[r]:indptr[r+1]]
    return out
