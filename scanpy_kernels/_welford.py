"""Welford's online mean and variance, as ``scanpy.get._kernels`` computes them.

scanpy's ``aggregate(func=["mean", "var"])`` (``mean_var_{csr,csc,dense}``) runs
Welford's update over each group's cells in ascending row order; sparse inputs run it
over the stored values only and then merge the block of implicit zeros.  The kernels
here reproduce it, through :func:`..aggregate.drivers.mean_var` (``aggregate`` itself,
hvg's seurat_v3 per-batch moments, rank_genes_groups' t-test statistics), and
:func:`welford_step` / :func:`merge_zeros` write the operations and their order once.  pandas'
``groupby().std()`` runs the same update (``hvg.dispersion``).  Per (group, gene)::

    n += 1; delta = x - mean; mean += delta / n; m2 += delta * (x - mean)
    sparse, k = n_obs - n_nz implicit zeros (k > 0 and n_nz > 0):
        mean_a = mean; mean = mean_a * n_nz / n_obs
        m2 += mean_a * mean_a * n_nz * k / n_obs
    var = m2 / n_obs                 (a group without rows keeps 0, 0)

All groups in one pass (CSR and dense: disjoint column blocks, each scanning every
row; CSC: columns; one body, :func:`_welford_add` / :func:`_welford_done`, through
:mod:`._columns`' sweeps), so each (group, gene) sees its rows in order at any
thread count: bitwise scanpy's.  ``codes``: int64 group per row, ``-1`` = not
aggregated (:mod:`._groups`).  Returns ``(mean, var, count)``, each
``(n_groups, n_cols)``, ``var`` with ``dof=0``: the driver applies
``Aggregate.mean_var``'s ``var *= counts / (counts - dof)``.  The last parameter is
what the callers differ in (``aggregate`` and hvg pass ``False``, rank_genes_groups
``True``: ``mean_var(..., nonzeros=True)``):

- sparse, ``skip_zeros``: explicit zeros are implicit ones, as after
  ``eliminate_zeros()`` (what ``rank_genes_groups`` aggregates); without it a stored
  zero is a value of the update, as ``aggregate`` takes a matrix as stored
  (seurat_v3).  The two differ in the last bits where a matrix stores zeros.
  ``count``: the stored values Welford took (the nonzeros with ``skip_zeros``).
- dense, ``count_nonzero``: ``count`` holds the nonzero values (``pts``); without
  it ``count`` has no columns (saves a counter update per value).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._columns import sweep_columns, sweep_csr, sweep_dense
from ._groups import group_positions
from .toolkit import (
    assume,
    helper,
    kernel,
    matrix_examples,
    matrix_signatures,
    zeros1,
    zeros2,
)

__all__ = [
    "merge_zeros",
    "welford_mean_var_csc",
    "welford_mean_var_csr",
    "welford_mean_var_dense",
    "welford_step",
]


@helper
def welford_step(mean, m2, n, x):
    """Return ``(mean, M2)`` after adding ``x``, the ``n``-th value.

    ``mean += (x - mean) / n``; ``M2 += (x - mean_old) * (x - mean_new)``.
    """
    delta = x - mean
    mean += delta / n
    return mean, m2 + delta * (x - mean)


@helper
def merge_zeros(mean, m2, n_nz, n):
    """Return ``(mean, M2 / n)`` of ``n`` values, Welford having seen the ``n_nz`` nonzeros.

    The ``k = n - n_nz`` implicit zeros are merged as a block of mean 0 and M2 0
    (Chan et al. 1979): ``mean = mean_nz n_nz / n``, ``M2 += mean_nz² n_nz k / n``.
    ``n == 0`` returns the record unchanged.
    """
    if n > 0:
        k = n - n_nz
        if k > 0 and n_nz > 0:
            mean_nz = mean
            mean = mean_nz * n_nz / n
            m2 += mean_nz * mean_nz * n_nz * k / n
        m2 /= n
    return mean, m2


# ------------------------------------------------------------- verifier examples
def _cases(rng):
    """Log counts with all-zero genes and cells, stored zeros, 1 and 3 groups."""
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = np.log1p(rng.negative_binomial(2, 0.5, (200, 60)).astype(np.float64))
        x[:, :3] = 0
        x[:2] = 0
        x = sp.csr_matrix(x)
        x.data[rng.random(x.nnz) < 0.1] = 0.0  # stored zeros
        for k in (1, 3):
            codes = rng.integers(-1 if k > 1 else 0, k, x.shape[0]).astype(np.int64)
            yield x, dtype, index, codes, k


def _example(fmt):
    return matrix_examples(_cases, fmt, lambda *_: [(False,), (True,)])


#: (mean, var, count) of the matrix, codes, n_groups, then skip_zeros (sparse) or
#: count_nonzero (dense)
_SPARSE, _DENSE = matrix_signatures(
    "Tuple((float64[:, ::1], float64[:, ::1], int64[:, ::1]))", "boolean"
)


# ------------------------------------------------------- one body, every format
@helper
def _welford_add(state, i, b, j, x):
    """Welford's update of (group ``b``, column ``j``) with value ``x`` of row ``i``.

    Per (group, column) q: ``acc[4q]`` mean, ``acc[4q + 1]`` M2, ``acc[4q + 2]``
    values seen (a float64 count: exact below 2**53, and ``delta / n`` converts it
    anyway), ``acc[4q + 3]`` nonzeros seen (``count_nonzero``); one cache line per
    update instead of three.
    """
    acc = state[0]  # the layout: _welford_state; read by index (see ._columns)
    value = np.float64(x)
    if not (state[2] and value == 0.0):  # skip_zeros
        q = 4 * (b * state[1] + j)
        assume(q >= 0)
        n = acc[q + 2] + 1.0  # dense: scanpy's n += 1 per row of the group
        m, v = welford_step(acc[q], acc[q + 1], n, value)
        acc[q] = m  # race-free: column j is the sweep's (its block's or its own)
        acc[q + 1] = v  # race-free: column j is the sweep's (its block's or its own)
        acc[q + 2] = n  # race-free: column j is the sweep's (its block's or its own)
        if state[3]:  # count_nonzero
            acc[q + 3] += value != 0.0  # race-free: column j is the sweep's


@helper
def _welford_done(state, lo, hi):
    """Merge the implicit zeros of columns ``lo <= j < hi``, divide M2, write out.

    A dense group has none (every row was a value): ``merge_zeros`` only divides.
    """
    acc = state[0]
    mean = state[5]
    m2 = state[6]
    count = state[7]
    for b in range(mean.shape[0]):
        n_obs = state[4][b]  # rows of group b
        for j in range(lo, hi):
            q = 4 * (b * state[1] + j)
            c = np.int64(acc[q + 2])
            m, v = merge_zeros(acc[q], acc[q + 1], c, n_obs)
            mean[b, j] = m  # race-free: lo <= j < hi, the sweep's own columns
            m2[b, j] = v  # race-free: lo <= j < hi, the sweep's own columns
            if count.shape[1] > 0:
                # sparse: the values taken; dense: the nonzeros
                nz = np.int64(acc[q + 3]) if state[3] else c
                count[b, j] = nz  # race-free: lo <= j < hi, the sweep's own columns


@helper
def _welford_state(codes, n_groups, n_cols, skip_zeros, count_nonzero, count_cols):
    """Return the sweep's state: records, flags, rows per group and the outputs.

    ``(acc, n_cols, skip_zeros, count_nonzero, n_obs, mean, m2, count)``;
    ``count_cols``: the count output's columns (``n_cols``, or 0).
    """
    _, n_obs = group_positions(codes, n_groups)
    acc = zeros1(4 * n_groups * n_cols, np.float64)
    mean = np.empty((n_groups, n_cols))
    m2 = np.empty((n_groups, n_cols))
    count = zeros2(n_groups, count_cols, np.int64)
    return (acc, n_cols, skip_zeros, count_nonzero, n_obs, mean, m2, count)


# --------------------------------------------------------------------- kernels
@kernel(signatures=_SPARSE, example=_example("csr"))
def welford_mean_var_csr(
    data, indices, indptr, n_rows, n_cols, codes, n_groups, skip_zeros
):
    """Per-group Welford mean/var (dof 0) and count of a canonical CSR matrix."""
    nonzeros = False  # the count: the values taken (the nonzeros with skip_zeros)
    st = _welford_state(codes, n_groups, n_cols, skip_zeros, nonzeros, n_cols)
    sweep_csr(
        data, indices, indptr, n_rows, n_cols, codes, st, _welford_add, _welford_done
    )
    return st[5], st[6], st[7]  # mean, m2, count


@kernel(signatures=_SPARSE, example=_example("csc"))
def welford_mean_var_csc(
    data, indices, indptr, n_rows, n_cols, codes, n_groups, skip_zeros
):
    """Per-group Welford mean/var (dof 0) and count of a CSC matrix (stored order)."""
    nonzeros = False  # the count: the values taken (the nonzeros with skip_zeros)
    st = _welford_state(codes, n_groups, n_cols, skip_zeros, nonzeros, n_cols)
    sweep_columns(data, indices, indptr, n_cols, codes, st, _welford_add, _welford_done)
    return st[5], st[6], st[7]  # mean, m2, count


@kernel(signatures=_DENSE, example=_example("dense"))
def welford_mean_var_dense(x, codes, n_groups, count_nonzero):
    """Per-group Welford mean/var (dof 0) (and nonzeros) of a C-contiguous dense matrix.

    Every value is a value of the update, zeros included (``mean_var_dense``).
    """
    n_cols = x.shape[1]
    every = False  # dense: every value, zeros included, is a value of the update
    count_cols = n_cols if count_nonzero else 0
    st = _welford_state(codes, n_groups, n_cols, every, count_nonzero, count_cols)
    sweep_dense(x, codes, st, _welford_add, _welford_done)
    return st[5], st[6], st[7]  # mean, m2, count
