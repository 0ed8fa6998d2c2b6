"""Per-gene (and per-batch) mean and variance, as ``fast_array_utils.stats.mean_var``.

Reproduces ``fast_array_utils.stats.mean_var(X, axis=0, correction=c)`` (the version
scanpy 1.12.4 calls) bitwise, including its summation order:

- CSR (``sparse_mean_var_minor_axis``): ``n_slots`` partial sums, row ``r`` adding
  into slot ``r % n_slots`` in row order; ``value * value`` in the data dtype; the
  slots summed in order (``sums[:, c].sum()``); ``var = sq / n - (s / n) ** 2``.
  fast-array-utils uses ``n_slots = numba.get_num_threads()`` *at call time*, so the
  frontend passes that number to reproduce it (the result of this kernel does not
  depend on how many threads it runs on).
- CSC (``sparse_mean_var_major_axis``): one sum per column in stored order, values
  and squares in float64; ``var = sq / n - mean * mean``.
- dense (``np.sum(x, axis=0, dtype=float64) / n`` and the same of ``x**2``, squares
  in the data dtype): numpy sums a C-contiguous array's axis 0 row by row.

Then ``var *= n / (n - correction)`` unless ``n == 1`` (``correction=0``: none).

flavor seurat's moments are those of ``expm1`` of the log data: the frontend applies
numpy's ``expm1`` (what scanpy applies to its copy of the matrix; numpy's SIMD
``expm1`` is not the C library's, which a kernel would call, see docs/kernel-guide.md)
to one block of stored values at a time and passes each block: CSC and dense by
columns (each column is summed on its own), CSR by rows into the partial sums of
the one CSR kernel, ``mean_var_csr_sums`` (each row's slot from
``_groups.row_slots``), which keep their state between blocks.  The CSR combine,
``mean_var_from_sums``, is numpy: O(batches x slots x genes) work that a kernel
made every process compile for ~1.7 s (docs/kernel-guide.md, "Compile time");
``mean_var_csr`` is the two steps over all rows.

Batches (the kernels' groups, :mod:`.._groups`): ``codes[i]`` is row ``i``'s batch in
``[0, n_groups)`` or ``-1`` (row skipped); batch ``b`` gives what scanpy computes on
``X[codes == b]``.  Returns ``(mean, var, n_positive)``, each ``(n_groups, n_cols)``;
with ``count_positive``, ``n_positive`` counts the values ``> 0``
(``filter_genes(min_cells=1)`` per batch, for ``filter_unexpressed_genes``), else it
has no columns (saves a counter update per stored value, and the memory).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

from .._columns import (
    balanced_column_blocks,
    row_entries,
    sweep_columns,
    sweep_dense,
)
from .._groups import group_positions, row_slots
from ..toolkit import assume, helper, kernel, num_threads, signatures, zeros2
from ._examples import examples, mean_var_params, mean_var_sums_examples

if TYPE_CHECKING:
    from collections.abc import Iterable

    from numpy.typing import NDArray

    Moments = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]

__all__ = [
    "mean_var_csc",
    "mean_var_csr",
    "mean_var_csr_blocks",
    "mean_var_csr_sums",
    "mean_var_dense",
    "mean_var_from_sums",
]

_OUT = "Tuple((float64[:, ::1], float64[:, ::1], int64[:, ::1]))"
_MATRIX = "{d}[::1], {i}[::1], {i}[::1], int64, int64"
#: data, indices, indptr, n_rows, n_cols, slots, n_slots, count_positive, sums
#: (updated)
_SUMS = signatures(
    f"float64[:, ::1]({_MATRIX}, int64[::1], int64, boolean, float64[:, ::1])"
)
#: data, indices, indptr, n_rows, n_cols, codes, n_groups, correction, count_positive
_CSC = signatures(_OUT + f"({_MATRIX}, int64[::1], int64, int64, boolean)")
#: x, codes, n_groups, correction, count_positive
_DENSE = signatures(_OUT + "({d}[:, ::1], int64[::1], int64, int64, boolean)")


@helper
def _finish(s, q, n, correction):
    """Mean and variance from a sum and a sum of squares over ``n`` rows."""
    mean = s / n
    var = q / n - mean * mean
    if correction != 0 and n != 1:
        var *= n / (n - correction)  # fast_array_utils: var *= n / (n - correction)
    return mean, var


@kernel(signatures=_SUMS, example=mean_var_sums_examples)
def mean_var_csr_sums(
    data, indices, indptr, n_rows, n_cols, slots, n_slots, count_positive, sums
):
    """Add a block of canonical CSR rows into partial sums (updated and returned).

    ``slots[i]``: row ``i``'s partial-sum row (``_groups.row_slots``: batch
    ``b``'s ``k``-th row adds into ``b * n_slots + k % n_slots``), or -1 to skip it;
    ``sums`` is ``(n_groups * n_slots, rec * n_cols)``, a record per (slot, column)
    with its fields side by side (an update touches one cache line): sum, sum of
    squares and, with ``count_positive``, the values ``> 0`` (a float64 count:
    exact below 2**53), so ``rec`` is 3 with ``count_positive``, else 2.  Zeroed
    before the first block; blocks passed in row order give the sums of one pass.

    fast_array_utils' own split: slot ``t`` sums the rows at positions ``t``,
    ``t + n_slots``, ... of each batch, one task per slot, each over whole rows.
    With fewer slots than threads, a slot is also split into column blocks (found
    by binary search).
    """
    rec = 3 if count_positive else 2
    n_split = max(1, min(n_cols, -(-num_threads() // n_slots)))
    bounds = balanced_column_blocks(indices, indptr, n_cols, n_split)
    for task in numba.prange(n_slots * n_split):
        t = task // n_split
        lo = bounds[task % n_split]
        hi = bounds[task % n_split + 1]
        for i in range(n_rows):
            s = slots[i]
            if s >= 0 and s % n_slots == t:
                row = sums[s]
                vals, cols = row_entries(data, indices, indptr, i, lo, hi, n_cols)
                for p in range(vals.shape[0]):
                    q = rec * cols[p]
                    assume(q >= 0)
                    x = vals[p]
                    row[q] += x  # race-free: slot t's own rows, columns lo..hi
                    row[q + 1] += x * x  # race-free: slot t's own rows, columns lo..hi
                    if count_positive:
                        row[q + 2] += x > 0  # race-free: slot t's own rows, lo..hi
    return sums


def mean_var_from_sums(
    sums: NDArray[np.float64],
    counts: NDArray[np.int64],
    n_slots: int,
    correction: int,
    count_positive: bool,  # noqa: FBT001 (the kernels' argument order)
) -> Moments:
    """Mean/var (and positives) per batch and column from :func:`mean_var_csr_sums`.

    fast_array_utils' combine, in numpy (O(batches x slots x genes), no kernel to
    compile): per column the slots summed in order (``sums[:, c].sum()``: adding
    the slots' rows one after the other is that order), ``var = sq / n -
    (s / n) ** 2``, then ``var *= n / (n - correction)`` unless ``n == 1``.  A
    batch without rows gets NaN (0 / 0), as the kernel of a whole pass did.
    """
    n_groups = counts.shape[0]
    rec = 3 if count_positive else 2
    n_cols = sums.shape[1] // rec
    per_slot = sums.reshape(n_groups, n_slots, n_cols, rec)
    total = np.zeros((n_groups, n_cols, rec))
    for t in range(n_slots):
        total += per_slot[:, t]
    n = counts.astype(np.float64)[:, np.newaxis]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total[..., 0] / n
        var = total[..., 1] / n - mean * mean
        if correction != 0:
            scale = np.where(counts == 1, 1.0, counts / (counts - correction))
            var *= scale[:, np.newaxis]
    positives = (
        total[..., 2].astype(np.int64)
        if count_positive
        else np.empty((n_groups, 0), np.int64)
    )
    return np.ascontiguousarray(mean), np.ascontiguousarray(var), positives


def mean_var_csr_blocks(
    blocks: Iterable[tuple[int, tuple]],
    n_cols: int,
    codes: NDArray[np.int64],
    n_groups: int,
    n_slots: int,
    correction: int,
    count_positive: bool,  # noqa: FBT001 (the kernels' argument order)
) -> Moments:
    """Mean/var per batch and column of CSR rows passed in blocks, in row order.

    ``blocks``: ``(first row, (data, indices, indptr, n_rows, n_cols))`` of each run
    of rows; each is added into the partial sums (:func:`mean_var_csr_sums`) before
    the next is taken (a driver may reuse one buffer), then
    :func:`mean_var_from_sums`.  Any split gives the sums of one pass.
    """
    slots, counts = row_slots(codes, n_groups, n_slots)
    sums = np.zeros((n_groups * n_slots, (3 if count_positive else 2) * n_cols))
    for r0, args in blocks:
        rows = slots[r0 : r0 + args[3]]
        mean_var_csr_sums(*args, rows, n_slots, count_positive, sums)
    return mean_var_from_sums(sums, counts, n_slots, correction, count_positive)


def mean_var_csr(
    data: NDArray[np.floating],
    indices: NDArray[np.integer],
    indptr: NDArray[np.integer],
    n_rows: int,
    n_cols: int,
    codes: NDArray[np.int64],
    n_groups: int,
    n_slots: int,
    correction: int,
    count_positive: bool,  # noqa: FBT001 (the kernels' argument order)
) -> Moments:
    """Mean/var per batch and column of a canonical CSR matrix (sorted row indices).

    :func:`mean_var_csr_blocks` with all rows in one block.
    """
    whole = [(0, (data, indices, indptr, n_rows, n_cols))]
    return mean_var_csr_blocks(
        whole, n_cols, codes, n_groups, n_slots, correction, count_positive
    )


@helper
def _moments_state(codes, n_groups, n_cols, correction, count_positive, zero):
    """Return the sweep's state: sums (to be means), sums of squares (variances), ...

    ``(mean, var, npos, count_positive, zero, counts, correction)``; ``zero``: 0 in
    the dtype the values are squared in (:func:`_moment_add`).
    """
    _, counts = group_positions(codes, n_groups)
    mean = zeros2(n_groups, n_cols, np.float64)
    var = zeros2(n_groups, n_cols, np.float64)
    npos = zeros2(n_groups, n_cols if count_positive else 0, np.int64)
    return (mean, var, npos, count_positive, zero, counts, correction)


@helper
def _moment_add(state, i, b, j, x):
    """Add value ``x`` to (batch ``b``, column ``j``)'s sum and sum of squares.

    The square is taken in the dtype of ``x + zero``: CSC (``zero`` a float64) as
    ``value = np.float64(x)`` there, ``value * value``; dense (``zero`` of the data
    dtype) ``x**2`` in the data dtype, as numpy squares the array before its float64
    sum.  (``x + 0`` is ``x``, but for -0.0, whose square is the same.)  The state
    is read by index (see .._columns).
    """
    if state[3] and x > 0:  # count_positive
        state[2][b, j] += 1  # race-free: column j is the sweep's (its block or own)
    sums = state[0]
    sums[b, j] += np.float64(x)  # race-free: column j is the sweep's (block or own)
    xs = x + state[4]
    squares = state[1]
    squares[b, j] += np.float64(xs * xs)  # race-free: column j is the sweep's


@helper
def _moments_done(state, lo, hi):
    """Turn the sums of columns ``lo <= j < hi`` into means and variances."""
    sums = state[0]
    squares = state[1]
    counts = state[5]
    for b in range(counts.shape[0]):
        for j in range(lo, hi):
            m, v = _finish(sums[b, j], squares[b, j], counts[b], state[6])
            sums[b, j] = m  # race-free: lo <= j < hi, the sweep's own columns
            squares[b, j] = v  # race-free: lo <= j < hi, the sweep's own columns


@kernel(signatures=_CSC, example=examples("csc", mean_var_params))
def mean_var_csc(
    data, indices, indptr, n_rows, n_cols, codes, n_groups, correction, count_positive
):
    """Mean/var per batch and column of a CSC matrix (stored order; no n_slots here)."""
    st = _moments_state(codes, n_groups, n_cols, correction, count_positive, 0.0)
    sweep_columns(data, indices, indptr, n_cols, codes, st, _moment_add, _moments_done)
    return st[0], st[1], st[2]


@kernel(signatures=_DENSE, example=examples("dense", mean_var_params))
def mean_var_dense(x, codes, n_groups, correction, count_positive):
    """Mean/var per batch and column of a C-contiguous dense matrix."""
    zero = x.dtype.type(0.0)
    st = _moments_state(codes, n_groups, x.shape[1], correction, count_positive, zero)
    sweep_dense(x, codes, st, _moment_add, _moments_done)
    return st[0], st[1], st[2]
