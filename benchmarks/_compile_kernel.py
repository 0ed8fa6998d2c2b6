"""The kernel ``compile_time.py`` times: a typical parallel kernel of the layer.

CSR column sums by per-thread partials combined in thread order (a ``prange`` over the
rows, one signature), the same kernel as ``csr_col_sums`` of the verifier's test
fixtures (tests/kernels/good_kernels.py), kept here because benchmarks import nothing
from tests/.
"""

from __future__ import annotations

import numba
import numpy as np

from scanpy_kernels.toolkit import assume, combine_partials, kernel, thread_partials


def _csr(rng, dtype=np.float64, n_rows=200, n_cols=50):
    """A random CSR matrix as ``(data, indices, indptr, n_cols)``: sorted int32 indices."""
    nnz_per_row = rng.integers(0, n_cols // 2, n_rows)
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(nnz_per_row, out=indptr[1:])
    indices = np.concatenate(
        [np.sort(rng.choice(n_cols, k, replace=False)) for k in nnz_per_row]
    ).astype(np.int32)
    data = rng.random(indptr[-1]).astype(dtype)
    return data, indices, indptr, n_cols


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
