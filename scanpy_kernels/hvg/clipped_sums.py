"""seurat_v3: per-batch sums of clipped counts and of their squares.

Reproduces scanpy 1.12.4 ``preprocessing/_highly_variable_genes.py``:

- sparse: ``_sum_and_sum_squares_clipped`` (``element = min(np.float64(data[i]),
  clip_val[idx])``; ``squared += element**2``; ``sum += element``), run on
  ``data[batch_info == b]`` (``.tocsr()`` first for CSC).  scanpy runs it serially
  because a parallel scatter into ``out[indices[i]]`` races.
- dense: ``clip_square_sum`` (``astype(float64)``, ``putmask(x > clip, clip)``,
  ``np.square(x).sum(axis=0)``, ``x.sum(axis=0)``).

Every output element is accumulated in the same order as there (increasing row within
its batch), so results are bitwise identical at any thread count: the kernels are
serial builds over a range of columns ``lo <= j < hi`` (CSR and dense: one column
block scanning every row, CSR binary-searching its range; CSC: those columns) that
:func:`..drivers.clipped_sums` splits over threads (``_columns.split_columns``; a
``prange`` build of the CSR kernel compiled for 1.8 s).  One body (:func:`_clip_add`)
serves the three formats (:mod:`.._columns`' sweeps).

Batches: ``codes[i]`` is row ``i``'s batch in ``[0, n_batches)``, or ``-1`` to skip
the row; ``clip`` is ``(n_batches, n_cols)`` (row ``b``: batch ``b``'s ``clip_val``),
so the kernels take no batch count: ``(*m.args, codes, clip, lo, hi, squared_sums,
sums)``, writing columns ``lo:hi`` of the two ``(n_batches, n_cols)`` float64 outputs
(scanpy's return order).  All batches in one pass, no row subset copied.
"""

from __future__ import annotations

import numpy as np

from .._columns import (
    column_range,
    csr_entries,
    dense_entries,
    one_block,
    sweep_blocks,
    sweep_column_range,
)
from ..toolkit import assume, helper, kernel, routine, signatures, zeros1
from ._examples import clipped_sums_params, examples

__all__ = ["clipped_sums_csc", "clipped_sums_csr", "clipped_sums_dense"]


def _example(fmt):
    return examples(fmt, clipped_sums_params, n_groups=False)


#: ..., codes, clip, lo, hi, squared_sums, sums
_TAIL = "int64[::1], float64[:, ::1], int64, int64, float64[:, ::1], float64[:, ::1])"
#: data, indices, indptr, n_rows, n_cols, ...
_SPARSE = signatures("none({d}[::1], {i}[::1], {i}[::1], int64, int64, " + _TAIL)
#: x, ...
_DENSE = signatures("none({d}[:, ::1], " + _TAIL)


@routine
def _records(clip, lo, hi):
    """Return the records of columns ``lo:hi``, 4 float64 per (batch, column).

    Record ``q``: ``acc[4q]`` the squared sum, ``acc[4q + 1]`` the sum, ``acc[4q + 2]``
    its clip value; 32 bytes: an update touches one cache line (measured 1.5x over 3
    arrays).
    """
    width = hi - lo
    acc = zeros1(4 * clip.shape[0] * width, np.float64)
    for b in range(clip.shape[0]):
        for j in range(lo, hi):
            acc[4 * (b * width + j - lo) + 2] = clip[b, j]
    return acc


@helper
def _clip_add(state, i, b, j, x):
    """Add value ``x`` of batch ``b``, column ``j`` (scanpy's loop body)."""
    acc = state[0]  # state: (records, width, lo, sq, s), read by index (.._columns)
    q = 4 * (b * state[1] + j - state[2])
    assume(q >= 0)
    # sparse: element = min(np.float64(data[i]), clip_val[idx]); dense: a float64
    # copy, np.putmask(x, x > clip_val, clip_val)
    v = min(np.float64(x), acc[q + 2])
    acc[q] += v * v
    acc[q + 1] += v


@helper
def _clip_done(state, lo, hi):
    """Write the squared sums and sums of columns ``lo <= j < hi``."""
    acc = state[0]
    sq = state[3]
    s = state[4]
    for b in range(sq.shape[0]):
        for j in range(lo, hi):
            q = 4 * (b * state[1] + j - state[2])
            sq[b, j] = acc[q]
            s[b, j] = acc[q + 1]


@kernel(signatures=_SPARSE, example=_example("csr"), parallel=False)
def clipped_sums_csr(data, indices, indptr, n_rows, n_cols, codes, clip, lo, hi, sq, s):
    """Clipped sums of columns ``lo:hi`` of a canonical CSR matrix."""
    st = (_records(clip, lo, hi), hi - lo, lo, sq, s)
    mat = (data, indices, indptr, n_rows, n_cols)
    bounds = one_block(lo, hi)
    sweep_blocks(mat, n_rows, bounds, codes, st, csr_entries, _clip_add, _clip_done)


@kernel(signatures=_SPARSE, example=_example("csc"), parallel=False)
def clipped_sums_csc(data, indices, indptr, n_rows, n_cols, codes, clip, lo, hi, sq, s):
    """Clipped sums of columns ``lo:hi`` of a canonical CSC matrix (sorted row indices)."""
    st = (_records(clip, lo, hi), hi - lo, lo, sq, s)
    sweep_column_range(data, indices, indptr, lo, hi, codes, st, _clip_add, _clip_done)


@kernel(signatures=_DENSE, example=_example("dense"), parallel=False)
def clipped_sums_dense(x, codes, clip, lo, hi, sq, s):
    """Clipped sums of columns ``lo:hi`` of a C-contiguous array (rows in order)."""
    st = (_records(clip, lo, hi), hi - lo, lo, sq, s)
    mat = (x, column_range(x.shape[1]))
    bounds = one_block(lo, hi)
    sweep_blocks(
        mat, x.shape[0], bounds, codes, st, dense_entries, _clip_add, _clip_done
    )
