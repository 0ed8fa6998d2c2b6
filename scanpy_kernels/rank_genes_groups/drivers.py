"""Drivers of the rank_genes_groups kernels: a :class:`~.._input.Matrix` in, arrays out.

What ``sc.tl.rank_genes_groups`` calls after validating its arguments.  ``codes``
holds each cell's selected group in ``[0, n_groups)`` or ``-1`` (in no selected
group: the "remainder" slot, the last row of every per-group output).  Bitwise
scanpy 1.12.4 (see each kernel module).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._welford import (
    welford_mean_var_csc,
    welford_mean_var_csr,
    welford_mean_var_dense,
)
from .group_stats import group_sums_csc, group_sums_csr, group_sums_dense
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


def _call(kernels: dict, m: Matrix, codes, n_groups: int, *params):
    """``kernel(*m.args, codes, n_groups, *params)``: the one calling convention.

    The kernel of `m`'s format; ``codes`` as int64 (no copy if they are).
    """
    codes = np.asarray(codes, dtype=np.int64)
    return kernels[m.fmt](*m.args, codes, n_groups, *params)


def _with_remainder(codes: NDArray[np.integer], n_groups: int) -> NDArray[np.int64]:
    """Codes with the remainder as group ``n_groups`` (per-group kernels skip -1)."""
    return np.where(codes >= 0, codes, n_groups).astype(np.int64, copy=False)


_SUMS = dict(csr=group_sums_csr, csc=group_sums_csc, dense=group_sums_dense)
_MEAN_VAR = dict(
    csr=welford_mean_var_csr, csc=welford_mean_var_csc, dense=welford_mean_var_dense
)
_RANKSUMS = dict(csr=ranksums_csr, csc=ranksums_csc, dense=ranksums_dense)


def group_means(
    m: Matrix, codes: NDArray[np.integer], n_groups: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Per-slot means (``aggregate(func="mean")``: float64 sum / n; 0 if empty), nonzeros.

    Both ``(n_groups + 1, n_genes)``; stored zeros are not counted.
    """
    slots = _with_remainder(codes, n_groups)
    sums, nnz = _call(_SUMS, m, slots, n_groups + 1)
    sizes = np.bincount(slots, minlength=n_groups + 1)[:, None]
    return np.divide(sums, sizes, out=np.zeros_like(sums), where=sizes > 0), nnz


def group_mean_var(
    m: Matrix, codes: NDArray[np.integer], n_groups: int
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
    """Per-slot mean, variance (``aggregate``'s Welford, ``dof=1``) and nonzeros.

    Stored zeros skipped (scanpy eliminates them first); empty slots get zeros.
    """
    # sparse: stored zeros skipped (skip_zeros); dense: nonzeros counted (count_nonzero)
    slots = _with_remainder(codes, n_groups)
    both = True
    mean, var, nnz = _call(_MEAN_VAR, m, slots, n_groups + 1, both)
    # Aggregate.mean_var(dof=1): var *= n / (n - 1), NaN for one cell; 0 for none
    sizes = np.bincount(slots, minlength=n_groups + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        dof1 = np.where(sizes > 1, sizes / (sizes - 1), np.nan)
    var *= np.where(sizes > 0, dof1, 0.0)[:, np.newaxis]
    return mean, var, nnz


def ranksums(
    m: Matrix, codes: NDArray[np.integer], n_groups: int, ref: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilcoxon rank sums and tie terms ``Σ(t³ - t)`` per group (``ref=-1``: vs rest)."""
    return _call(_RANKSUMS, m, codes, n_groups, ref)


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
