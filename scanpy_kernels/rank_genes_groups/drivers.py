"""Drivers of the rank_genes_groups kernels: a :class:`~.._input.Matrix` in, arrays out.

What ``sc.tl.rank_genes_groups`` calls after validating its arguments.  ``codes``
holds each cell's selected group in ``[0, n_groups)`` or ``-1`` (in no selected
group: the "remainder" slot, the last row of every per-group output).  Bitwise
scanpy 1.12.4 (see each kernel module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from .. import aggregate
from .._groups import call_grouped
from .nan_ranks import nan_rank_sums
from .wilcoxon import ranksums_csc, ranksums_csr, ranksums_dense

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .._input import Matrix

__all__ = [
    "group_mean_var",
    "group_means",
    "ranksums",
    "tie_factor",
    "wilcoxon_zscores",
]


def _with_remainder(codes: NDArray[np.integer], n_groups: int) -> NDArray[np.int64]:
    """Codes with the remainder as group ``n_groups`` (per-group kernels skip -1)."""
    return np.where(codes >= 0, codes, n_groups).astype(np.int64, copy=False)


_RANKSUMS = dict(csr=ranksums_csr, csc=ranksums_csc, dense=ranksums_dense)


def group_means(
    m: Matrix, codes: NDArray[np.integer], n_groups: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per-slot means (``aggregate(func="mean")``: float64 sum / n; 0 if empty), nonzeros.

    Both ``(n_groups + 1, n_genes)``; stored zeros are not counted.
    """
    slots = _with_remainder(codes, n_groups)
    sums, nnz = aggregate.sums(m, slots, n_groups + 1)
    sizes = np.bincount(slots, minlength=n_groups + 1)[:, None]
    return np.divide(sums, sizes, out=np.zeros_like(sums), where=sizes > 0), nnz


def group_mean_var(
    m: Matrix, codes: NDArray[np.integer], n_groups: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per-slot mean, variance (``aggregate``'s Welford, ``dof=1``) and nonzeros.

    Stored zeros skipped (scanpy eliminates them first); empty slots get zeros.
    """
    slots = _with_remainder(codes, n_groups)
    mean, var, nnz = aggregate.mean_var(m, slots, n_groups + 1, nonzeros=True)
    # Aggregate.mean_var(dof=1): var *= n / (n - 1), NaN for one cell; 0 for none
    sizes = np.bincount(slots, minlength=n_groups + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof1 = np.where(sizes > 1, sizes / (sizes - 1), np.nan)
    var *= np.where(sizes > 0, dof1, 0.0)[:, np.newaxis]
    return mean, var, nnz


def ranksums(
    m: Matrix, codes: NDArray[np.integer], n_groups: int, ref: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilcoxon rank sums and tie terms ``Σ(t³ - t)`` per group (``ref=-1``: vs rest).

    NaN values get the ranks scanpy gave them (:mod:`.nan_ranks`).
    """
    rank_sums, tie_sums = call_grouped(_RANKSUMS, m, codes, n_groups, ref)
    # a NaN makes the sum NaN; inf - inf too (a false alarm, settled by the scan)
    if np.isnan(np.sum(m.data, dtype=np.float64)):
        _nan_ranks_as_scanpy(m, np.asarray(codes), n_groups, ref, rank_sums)
    return rank_sums, tie_sums


#: densified values per block of NaN columns (scanpy densified chunks of genes too)
NAN_BLOCK_VALUES = 1 << 22


def _nan_ranks_as_scanpy(
    m: Matrix,
    codes: NDArray[np.integer],
    n_groups: int,
    ref: int,
    rank_sums: NDArray[np.float64],
) -> None:
    """Move the NaNs' ranks from row order (the kernels') to scanpy's order, in place.

    Every NaN is a tie block of one above all numbers, so the kernels give the ``k``
    NaNs among ``n`` ranked cells the ranks ``n - k + 1 .. n`` by row and scanpy in
    its quicksort's order (:func:`.nan_rank_sums`): a group's sum differs by whole
    ranks (exact in float64), and only where a column's ranked NaNs are in two or
    more slots (one slot gets the same sum in every order).  Tie terms do not change.
    """
    rows, cols = _nan_cells(m)
    slots = _with_remainder(codes, n_groups)
    if ref >= 0:  # vs a reference scanpy ranks each pair's cells, the group's first
        ref_cells = np.flatnonzero(codes == ref)
        pairs = []  # (group, the pair's cells in scanpy's order, 1 for the reference's)
        for g in range(n_groups):
            if g != ref:
                cells = np.flatnonzero(codes == g)
                in_ref = np.repeat(np.int64([0, 1]), [cells.size, ref_cells.size])
                pairs.append((g, np.concatenate([cells, ref_cells]), in_ref))
    genes, starts = np.unique(cols, return_index=True)
    nan_rows = np.split(rows, starts[1:])
    mixed = [
        i
        for i, r in enumerate(nan_rows)
        if np.unique(slots[r][codes[r] >= 0] if ref >= 0 else slots[r]).size > 1
    ]
    block = max(NAN_BLOCK_VALUES // max(m.shape[0], 1), 1)
    for b in range(0, len(mixed), block):
        idx = mixed[b : b + block]
        dense = _columns(m, genes[idx])
        for t, i in enumerate(idx):
            col, r, j = dense[:, t], nan_rows[i], genes[i]
            if ref < 0:
                _shift(rank_sums[:, j], col, slots, slots[r], n_groups + 1)
                continue
            for g, order, in_ref in pairs:
                r_pair = r[(codes[r] == g) | (codes[r] == ref)]
                if np.unique(codes[r_pair]).size > 1:  # NaNs in g and in ref
                    nan_slots = (codes[r_pair] == ref).astype(np.int64)
                    _shift(rank_sums[g : g + 1, j], col[order], in_ref, nan_slots, 2)


def _shift(
    out: NDArray[np.float64],
    values: NDArray,
    slots: NDArray[np.int64],
    nan_slots: NDArray[np.int64],
    n_slots: int,
) -> None:
    """Add scanpy's NaN rank sums minus the kernels' to ``out`` (the first slots).

    ``values``: the column as scanpy ranked it, ``slots`` its cells'; ``nan_slots``:
    the slots of its NaNs in row order, which the kernels rank ``n - k + 1 .. n``.
    """
    n, k = values.shape[0], nan_slots.size
    scanpy = nan_rank_sums(np.ascontiguousarray(values), slots, n_slots)
    by_row = np.bincount(nan_slots, np.arange(n - k + 1, n + 1), minlength=n_slots)
    out += (scanpy - by_row)[: out.shape[0]]


def _nan_cells(m: Matrix) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """Rows and columns of the NaN values, by column, then row."""
    if m.fmt == "dense":
        rows, cols = np.nonzero(np.isnan(m.data))
    else:
        p = np.flatnonzero(np.isnan(m.data))
        major = np.searchsorted(m.indptr, p, side="right") - 1
        minor = m.indices[p].astype(np.intp)
        rows, cols = (major, minor) if m.fmt == "csr" else (minor, major)
    order = np.lexsort((rows, cols))
    return rows[order], cols[order]


def _columns(m: Matrix, genes: NDArray[np.intp]) -> NDArray:
    """Densified columns ``genes`` of ``m``, ``(n_cells, len(genes))`` in its dtype."""
    if m.fmt == "dense":
        return m.data[:, genes]
    cls = sparse.csr_matrix if m.fmt == "csr" else sparse.csc_matrix
    return cls((m.data, m.indices, m.indptr), shape=m.shape)[:, genes].toarray()


def tie_factor(tie_sums: NDArray[np.float64], n: int) -> NDArray[np.float64] | float:
    """Return scanpy's ``_tiecorrect``: ``1 - Σ(t³ - t) / (n³ - n)`` of ``n`` ranked cells."""
    if n < 2:
        return np.ones_like(tie_sums)
    size = np.float64(n)
    return 1.0 - tie_sums / (size * size * size - size)


def wilcoxon_zscores(
    rank_sums: NDArray[np.float64],
    tie_sums: NDArray[np.float64],
    sizes: NDArray[np.int64],
    ref: int,
    *,
    tie_correct: bool,
) -> NDArray[np.float64]:
    """Return scanpy's Wilcoxon z-scores ``(n_groups, n_genes)``, with its expressions.

    ``sizes``: cells per slot (the remainder last).  vs rest (``ref < 0``), ``n``
    cells of the group among all ``N``; vs the reference of ``m`` cells::

        z = (R - n (N + 1) / 2) / sqrt(tc · n · (N - n) · (N + 1) / 12)
        z = (R - n ((n + m + 1) / 2)) / sqrt(tc · n · m · (n + m + 1) / 12)

    ``tc`` the tie factor (1 without ``tie_correct``); NaN (a gene tied in every
    cell) becomes 0, with numpy's warning, as in scanpy.  Row ``ref`` is 0.
    """
    n_groups = rank_sums.shape[0]
    n_all = int(sizes.sum())
    scores = np.zeros(rank_sums.shape)
    for g in range(n_groups):
        if g == ref:
            continue
        n = int(sizes[g])
        if ref < 0:
            tc = tie_factor(tie_sums[g], n_all) if tie_correct else 1
            std_dev = np.sqrt(tc * n * (n_all - n) * (n_all + 1) / 12.0)
            z = (rank_sums[g] - (n * (n_all + 1) / 2.0)) / std_dev
        else:
            m = int(sizes[ref])
            tc = tie_factor(tie_sums[g], n + m) if tie_correct else 1
            std_dev = np.sqrt(tc * n * m * (n + m + 1) / 12.0)
            z = (rank_sums[g] - (n * ((n + m + 1) / 2.0))) / std_dev
        z[np.isnan(z)] = 0
        scores[g] = z
    return scores
