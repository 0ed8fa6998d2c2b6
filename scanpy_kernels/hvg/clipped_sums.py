"""seurat_v3: per-batch sums of clipped counts and of their squares.

Reproduces scanpy 1.12.4 ``preprocessing/_highly_variable_genes.py``:

- sparse: ``_sum_and_sum_squares_clipped`` (``element = min(np.float64(data[i]),
  clip_val[idx])``; ``squared += element**2``; ``sum += element``), run on
  ``data[batch_info == b]`` (``.tocsr()`` first for CSC).  scanpy runs it serially
  because a parallel scatter into ``out[indices[i]]`` races.
- dense: ``clip_square_sum`` (``astype(float64)``, ``putmask(x > clip, clip)``,
  ``np.square(x).sum(axis=0)``, ``x.sum(axis=0)``).

Every output element is accumulated in the same order as there (increasing row within
its batch), so results are bitwise identical at any thread count: the CSR and dense
kernels are parallel over disjoint column blocks (each scans every row; CSR
binary-searches its column range), the CSC one over columns.  One body
(:func:`_clip_add`) serves the three formats (:mod:`.._columns`' sweeps).

Batches: ``codes[i]`` is row ``i``'s batch in ``[0, n_batches)``, or ``-1`` to skip
the row; ``clip`` is ``(n_batches, n_cols)`` (row ``b``: batch ``b``'s ``clip_val``),
so the kernels take no batch count: ``(*m.args, codes, clip)``.  All batches in one
pass, no row subset copied.  Returns ``(squared_sums, sums)``, each
``(n_batches, n_cols)`` float64 (scanpy's return order).
"""

from __future__ import annotations

import numpy as np

from .._columns import no_finish, sweep_columns, sweep_csr, sweep_dense
from ..toolkit import assume, helper, kernel, routine, signatures, zeros1
from ._examples import clipped_sums_params, examples

__all__ = ["clipped_sums_csc", "clipped_sums_csr", "clipped_sums_dense"]


def _example(fmt):
    return examples(fmt, clipped_sums_params, n_groups=False)


_OUT = "UniTuple(float64[:, ::1], 2)"
#: data, indices, indptr, n_rows, n_cols, codes, clip
_SPARSE = signatures(
    _OUT + "({d}[::1], {i}[::1], {i}[::1], int64, int64, int64[::1], float64[:, ::1])"
)
#: x, codes, clip
_DENSE = signatures(_OUT + "({d}[:, ::1], int64[::1], float64[:, ::1])")


@routine
def _records(clip):
    """Return the records: per (batch, column) q, ``acc[4q]`` the squared sum.

    ``acc[4q + 1]`` the sum, ``acc[4q + 2]`` its clip value (32 bytes: an update
    touches one cache line; measured 1.5x over 3 arrays).
    """
    acc = zeros1(4 * clip.size, np.float64)
    cl = clip.ravel()
    for q in range(cl.shape[0]):
        acc[4 * q + 2] = cl[q]
    return acc


@helper
def _clip_add(state, i, b, j, x):
    """Add value ``x`` of batch ``b``, column ``j`` (scanpy's loop body)."""
    acc = state[0]  # state: (records, n_cols), read by index (see .._columns)
    q = 4 * (b * state[1] + j)
    assume(q >= 0)
    # sparse: element = min(np.float64(data[i]), clip_val[idx]); dense: a float64
    # copy, np.putmask(x, x > clip_val, clip_val)
    v = min(np.float64(x), acc[q + 2])
    acc[q] += v * v  # race-free: column j is the sweep's (its block's or its own)
    acc[q + 1] += v  # race-free: column j is the sweep's (its block's or its own)


@routine
def _split(acc, n_batches, n_cols):
    """``(squared_sums, sums)``, each ``(n_batches, n_cols)``, from the records."""
    sq = np.ascontiguousarray(acc[0::4]).reshape((n_batches, n_cols))
    s = np.ascontiguousarray(acc[1::4]).reshape((n_batches, n_cols))
    return sq, s


@kernel(signatures=_SPARSE, example=_example("csr"))
def clipped_sums_csr(data, indices, indptr, n_rows, n_cols, codes, clip):
    """Clipped sums of a canonical CSR matrix (sorted, in-range indices in each row)."""
    acc = _records(clip)
    st = (acc, n_cols)
    sweep_csr(data, indices, indptr, n_rows, n_cols, codes, st, _clip_add, no_finish)
    return _split(acc, clip.shape[0], n_cols)


@kernel(signatures=_SPARSE, example=_example("csc"))
def clipped_sums_csc(data, indices, indptr, n_rows, n_cols, codes, clip):
    """Clipped sums of a canonical CSC matrix (sorted row indices in each column)."""
    acc = _records(clip)
    sweep_columns(
        data, indices, indptr, n_cols, codes, (acc, n_cols), _clip_add, no_finish
    )
    return _split(acc, clip.shape[0], n_cols)


@kernel(signatures=_DENSE, example=_example("dense"))
def clipped_sums_dense(x, codes, clip):
    """Clipped sums of a C-contiguous dense matrix (numpy's axis-0 sums go row by row)."""
    acc = _records(clip)
    sweep_dense(x, codes, (acc, x.shape[1]), _clip_add, no_finish)
    return _split(acc, clip.shape[0], x.shape[1])
