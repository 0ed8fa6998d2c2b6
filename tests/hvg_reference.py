"""Test helpers for the HVG kernels: generated counts and pristine scanpy references.

The references call scanpy 1.12.4's own functions (installed, unpatched) on exactly
the inputs scanpy builds for them, so the kernels are compared with today's scanpy.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def counts(
    n_cells: int, n_genes: int, *, seed: int = 0, zero_genes: int = 5, zero_cells: int = 3
) -> np.ndarray:
    """Negative-binomial counts (int64) with some all-zero genes and cells."""
    rng = np.random.default_rng(seed)
    gene_mean = rng.gamma(0.4, 2.0, size=n_genes)
    cell_size = rng.lognormal(0.0, 0.5, size=(n_cells, 1))
    mu = gene_mean * cell_size
    r = 2.0
    x = rng.negative_binomial(r, r / (r + mu))
    x[:, rng.choice(n_genes, zero_genes, replace=False)] = 0
    x[rng.choice(n_cells, zero_cells, replace=False)] = 0
    # a few large outliers so seurat_v3 clipping binds
    hot = rng.integers(0, n_cells, 20), rng.integers(0, n_genes, 20)
    x[hot] += rng.integers(50, 500, 20)
    return x


def as_format(x: np.ndarray, fmt: str, dtype, index_dtype=np.int32):
    """``x`` as dense (C order), CSR or CSC with the given data and index dtypes."""
    x = np.ascontiguousarray(x, dtype=dtype)
    if fmt == "dense":
        return x
    m = (sp.csr_matrix if fmt == "csr" else sp.csc_matrix)(x)
    m.indices = m.indices.astype(index_dtype)
    m.indptr = m.indptr.astype(index_dtype)
    return m


def components(m):
    return m.data, m.indices, m.indptr


def matrix_args(m):
    """A kernel's leading arguments for ``m`` (``Matrix.args``): the calling convention.

    ``(data, indices, indptr, n_rows, n_cols)`` for CSR/CSC, ``(x,)`` for dense.
    """
    if sp.issparse(m):
        return (*components(m), *m.shape)
    return (m,)


def pristine_pearson_batch(x_batch_prefilter, *, clip: float, theta: float) -> np.ndarray:
    """scanpy 1.12.4's per-batch residual variance (its code, its kernels), zero-filled."""
    from scanpy.experimental.pp._highly_variable_genes import (
        _calculate_res_dense,
        _calculate_res_sparse,
    )

    nonzero_genes = np.ravel(x_batch_prefilter.sum(axis=0)) != 0
    x_batch = x_batch_prefilter[:, nonzero_genes]
    if sp.issparse(x_batch):
        x_batch = x_batch.tocsc()
        x_batch.eliminate_zeros()
        calc = lambda **kw: _calculate_res_sparse(x_batch.astype(np.float64), **kw)  # noqa: E731
    else:
        x_batch = np.array(x_batch, dtype=np.float64, order="F")
        calc = lambda **kw: _calculate_res_dense(x_batch, **kw)  # noqa: E731
    sums_genes = np.array(x_batch.sum(axis=0)).ravel()
    sums_cells = np.array(x_batch.sum(axis=1)).ravel()
    sum_total = np.sum(sums_genes)
    res = calc(
        sums_genes=sums_genes,
        sums_cells=sums_cells,
        sum_total=np.float64(sum_total),
        clip=np.float64(clip),
        theta=np.float64(theta),
        n_genes=x_batch.shape[1],
        n_cells=x_batch.shape[0],
    )
    out = np.zeros(len(nonzero_genes))
    out[nonzero_genes] = res
    return out
