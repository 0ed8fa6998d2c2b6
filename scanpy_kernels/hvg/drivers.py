"""Drivers of the HVG kernels: a :class:`~.._input.Matrix` (or arrays) in, arrays out.

What scanpy's ``highly_variable_genes`` frontends call after validating their
arguments.  The drivers pick the kernel for the matrix's format and own everything
between the kernels: memory budgets (how many batches share one pass, how many
stored values are un-logged at a time), the partial-sum slots that reproduce
fast-array-utils, the bins' edges and the combine of the batches.  Each reproduces
the scanpy 1.12.4 computation it names bit for bit (see each kernel module), except
:func:`pearson_residual_variances` (TOLERANCES.md of the project: relative <= 1e-11).

Batches are ``codes``: each row's batch in ``[0, n_batches)``, ``-1`` to skip it.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, NamedTuple

import numba
import numpy as np

from .. import aggregate
from .._input import sorted_indices
from . import mean_var as moments
from . import pearson
from .clipped_sums import clipped_sums_csc, clipped_sums_csr, clipped_sums_dense
from .dispersion import (
    batch_means,
    mean_bins,
    normalized_dispersions_mean_std,
    normalized_dispersions_median_mad,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from numpy.typing import NDArray

    from .._input import Matrix

    Moments = tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]

__all__ = [
    "Dispersions",
    "category_codes",
    "clipped_sums",
    "combine_batches",
    "descending_ranks",
    "dispersions_cell_ranger",
    "dispersions_seurat",
    "mean_var",
    "pearson_residual_variances",
    "welford_mean_var",
]

#: bytes of CSR partial sums (16 per batch, slot and gene) above which the batches
#: are split into groups, one pass over the matrix per group
PARTIALS_BUDGET = 1 << 28
#: bytes of un-logged values (flavor seurat) computed at a time: one block of the
#: stored values, never an ``expm1`` copy of the matrix
UNLOG_BLOCK_BYTES = 1 << 23


# ------------------------------------------------------------------ moments
def mean_var(
    m: Matrix,
    codes: NDArray[np.int64],
    n_batches: int,
    *,
    correction: int = 1,
    log_scale: float | None = None,
    count_positive: bool = False,
    n_slots: int | None = None,
) -> Moments:
    """Return ``stats.mean_var(X[codes == b], axis=0, correction)`` of every batch.

    fast-array-utils' ``mean_var`` bitwise, for all batches in one pass
    (:mod:`.mean_var`).  ``log_scale``: the moments of ``expm1(X * log_scale)``
    (flavor seurat's un-logging), computed with numpy's ``expm1`` on blocks of
    :data:`UNLOG_BLOCK_BYTES` of stored values in one reused buffer.
    ``count_positive``: also count the values ``> 0`` of ``X`` (not un-logged).
    ``n_slots``: fast-array-utils' CSR partial sums, ``numba.get_num_threads()`` at
    call time by default (what it uses).  Returns ``(mean, var, n_positive)``,
    each ``(n_batches, n_genes)`` (``n_positive`` has no genes without
    ``count_positive``).
    """
    if log_scale is not None and m.fmt == "csc":
        m = sorted_indices(m)  # scipy's expm1 sums (and sorts) a CSC matrix first
    if n_slots is None:
        n_slots = numba.get_num_threads()
    # the un-logged values are > 0 where the data are, unless the scale flips signs
    # or underflows: count on the data then, in a pass of their own
    recount = count_positive and log_scale not in {None, 1.0}
    moments = _moments(
        m,
        codes,
        n_batches,
        correction=correction,
        log_scale=log_scale,
        count_positive=count_positive and not recount,
        n_slots=n_slots,
    )
    if not recount:
        return moments
    positives = _moments(
        m, codes, n_batches, correction=correction, count_positive=True, n_slots=n_slots
    )
    return moments[0], moments[1], positives[2]


def _moments(
    m: Matrix,
    codes: NDArray[np.int64],
    n_batches: int,
    *,
    correction: int,
    count_positive: bool,
    n_slots: int,
    log_scale: float | None = None,
) -> Moments:
    """Run the moment kernel of `m`'s format (CSR: in groups of batches)."""
    if m.fmt == "dense":
        if log_scale is None:
            return moments.mean_var_dense(
                *m.args, codes, n_batches, correction, count_positive
            )
        return _dense_blocks(m, codes, n_batches, correction, log_scale, count_positive)
    if m.fmt == "csc":
        # without genes there is no block to un-log: one call on the empty matrix
        whole = log_scale is None or m.shape[1] == 0
        blocks = [(0, m.shape[1], m)] if whole else _unlogged(m, log_scale)
        return _join([
            moments.mean_var_csc(*b.args, codes, n_batches, correction, count_positive)
            for _, _, b in blocks
        ])
    group = max(1, PARTIALS_BUDGET // (16 * n_slots * max(m.shape[1], 1)))
    parts = []
    for first in range(0, max(n_batches, 1), group):
        n = min(group, n_batches - first)
        in_group = (codes >= first) & (codes < first + n)
        group_codes = codes if n == n_batches else np.where(in_group, codes - first, -1)
        if log_scale is None:
            args = (group_codes, n, n_slots, correction, count_positive)
            parts.append(moments.mean_var_csr(*m.args, *args))
        else:
            parts.append(
                _csr_blocks(
                    m, group_codes, n, n_slots, correction, log_scale, count_positive
                )
            )
    return parts[0] if len(parts) == 1 else _join(parts, axis=0)


def _join(parts: list[Moments], axis: int = 1) -> Moments:
    return tuple(np.concatenate(col, axis=axis) for col in zip(*parts, strict=True))


def _unlog(values: NDArray, log_scale: float, out: NDArray) -> NDArray:
    """Flavor seurat's ``expm1(values * log_scale)`` into `out`, with numpy's ufuncs.

    scanpy applies numpy's ``expm1`` to its copy of the matrix; on AVX-512 CPUs that
    is numpy's own SIMD code, which differs in the last bit from the C library's that
    a kernel would call (docs/kernel-guide.md).  Elementwise: a block gets what the
    whole copy would.
    """
    if log_scale != 1.0:
        values = np.multiply(values, log_scale, out=out)  # x *= np.log(base)
    return np.expm1(values, out=out)


def _unlogged(m: Matrix, log_scale: float) -> Iterator[tuple[int, int, Matrix]]:
    """Yield ``(start, stop, block)``: runs of rows (CSR) or columns (CSC), un-logged.

    Each block's values are in one buffer reused for the next: at most
    :data:`UNLOG_BLOCK_BYTES`, or one row or column.
    """
    size = UNLOG_BLOCK_BYTES // m.data.itemsize
    bounds = [0]
    while bounds[-1] < m.n_major:
        start = bounds[-1]
        end = np.searchsorted(m.indptr, np.int64(m.indptr[start]) + size, "right")
        bounds.append(max(int(end) - 1, start + 1))
    buf = np.empty(max(np.diff(m.indptr[bounds]), default=0), m.data.dtype)
    for start, stop in pairwise(bounds):
        p0, p1 = m.indptr[start], m.indptr[stop]
        values = _unlog(m.data[p0:p1], log_scale, buf[: p1 - p0])
        yield start, stop, m.major_block(start, stop, values)


def _csr_blocks(m, codes, n_batches, n_slots, correction, log_scale, count_positive):
    """``mean_var_csr`` of the un-logged matrix, a block of rows at a time.

    The blocks' rows go into the partial sums of one call, in row order: the same
    sums as one call on an un-logged copy.
    """
    blocks = ((r0, b.args) for r0, _, b in _unlogged(m, log_scale))
    return moments.mean_var_csr_blocks(
        blocks, m.shape[1], codes, n_batches, n_slots, correction, count_positive
    )


def _dense_blocks(m, codes, n_batches, correction, log_scale, count_positive):
    """``mean_var_dense`` of the un-logged array, a block of columns at a time."""
    n_rows, n_genes = m.shape
    width = max(1, UNLOG_BLOCK_BYTES // (m.data.itemsize * max(n_rows, 1)))
    buf = np.empty(n_rows * min(width, n_genes), m.data.dtype)
    parts = []
    for lo in range(0, max(n_genes, 1), width):
        hi = min(lo + width, n_genes)
        block = buf[: n_rows * (hi - lo)].reshape(n_rows, hi - lo)
        np.copyto(block, m.data[:, lo:hi])  # contiguous, as scanpy's copy
        block = _unlog(block, log_scale, block)
        parts.append(
            moments.mean_var_dense(block, codes, n_batches, correction, count_positive)
        )
    return _join(parts)


def welford_mean_var(
    m: Matrix, codes: NDArray[np.int64], n_batches: int, *, dof: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``aggregate(X, by=codes, func=["mean", "var"], dof=dof)``'s layers.

    :func:`..aggregate.mean_var` (every batch in one pass), then
    ``Aggregate.mean_var``'s ``var *= n / (n - dof)``.  Every batch needs more than
    ``dof`` rows (``aggregate`` warns and gives NaN there).
    """
    mean, var, _ = aggregate.mean_var(m, codes, n_batches)
    n = np.bincount(codes[codes >= 0], minlength=n_batches)
    var *= (n / (n - dof))[:, np.newaxis]
    return mean, var


def clipped_sums(
    m: Matrix, codes: NDArray[np.int64], clip: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return seurat_v3's ``(squared_sums, sums)`` of clipped values per batch.

    ``clip[b]``: batch ``b``'s clip value per gene.  scanpy clips and sums each
    batch's rows in order (CSC converted to CSR first), so do these (:mod:`.clipped_sums`).
    """
    if m.fmt == "dense":
        return clipped_sums_dense(*m.args, codes, clip)
    m = sorted_indices(m)
    kern = clipped_sums_csr if m.fmt == "csr" else clipped_sums_csc
    return kern(*m.args, codes, clip)


# -------------------------------------------------------------- dispersions
class Dispersions(NamedTuple):
    """Flavors seurat and cell_ranger: each gene's dispersion and its normalization."""

    #: the genes' means (seurat: ``log1p``)
    means: NDArray[np.float64]
    #: ``var / mean`` (seurat: its ``log``, NaN for 0)
    dispersions: NDArray[np.float64]
    #: the mean bins' edges (right-closed bins, as ``pd.cut``)
    edges: NDArray[np.float64]
    #: each gene's bin
    bins: NDArray[np.int64]
    #: ``(dispersion - avg[bin]) / dev[bin]``
    dispersions_norm: NDArray[np.float64]
    #: genes alone in their bin (seurat: normalized dispersion set by the one-gene rule)
    alone: NDArray[np.intp]


def dispersions_seurat(
    mean: NDArray[np.float64],
    var: NDArray[np.float64],
    n_bins: int,
    *,
    reduceat_means: bool,
) -> Dispersions:
    """Flavor seurat: log dispersions normalized by their mean bin's mean and std.

    ``n_bins`` equal-width bins of the log means (pandas' ``pd.cut(x, n_bins)``);
    the bins' statistics are pandas' ``groupby`` mean and std bitwise
    (:mod:`.dispersion`; ``reduceat_means``: the installed pandas averages sorted
    groups with ``np.add.reduceat``).  `mean` is modified in place (0 -> 1e-12).
    """
    mean, dispersion = _dispersion(mean, var)
    dispersion[dispersion == 0] = np.nan
    dispersion = np.log(dispersion)
    mean = np.log1p(mean)
    edges = _equal_width_edges(_binnable(mean), n_bins)
    bins = mean_bins(mean, edges)
    norm, n_values = normalized_dispersions_mean_std(
        dispersion, bins, len(edges) - 1, reduceat_means
    )
    return Dispersions(
        mean, dispersion, edges, bins, norm, np.flatnonzero(n_values[bins] <= 1)
    )


def dispersions_cell_ranger(
    mean: NDArray[np.float64], var: NDArray[np.float64]
) -> Dispersions:
    """Flavor cell_ranger: dispersions normalized by their mean bin's median and MAD.

    Bins between the 10th, 15th, ..., 100th percentiles of the means; statsmodels'
    ``mad`` (the median absolute deviation over ``norm.ppf(3/4)``).  `mean` is
    modified in place (0 -> 1e-12).  Edges that do not increase strictly (tied
    percentiles) still give each gene a bin in range; ``pd.cut`` refuses them, so
    the frontend asks it (its error) before using the result.
    """
    from scipy.stats import norm  # ~0.1 s to import: only here

    mean, dispersion = _dispersion(mean, var)
    edges = np.r_[
        -np.inf, np.percentile(_binnable(mean), np.arange(10, 105, 5)), np.inf
    ]
    bins = mean_bins(mean, edges)
    normed = normalized_dispersions_median_mad(
        dispersion, bins, len(edges) - 1, norm.ppf(3 / 4)
    )
    return Dispersions(mean, dispersion, edges, bins, normed, np.empty(0, np.intp))


def _dispersion(mean, var):
    mean[mean == 0] = 1e-12  # set entries equal to zero to small value
    return mean, var / mean


def _binnable(means: NDArray[np.float64]) -> NDArray[np.float64]:
    """`means`, if every one falls into a bin: NaN and -inf fall into none."""
    if n := np.count_nonzero(np.isnan(means) | (means == -np.inf)):
        msg = (
            f"The mean of {n} gene(s) is NaN or -inf: the data has NaN or infinite "
            "values, and genes are binned by their finite means."
        )
        raise ValueError(msg)
    return means


def _equal_width_edges(x: NDArray[np.float64], n_bins: int) -> NDArray[np.float64]:
    """Return the edges ``pd.cut(x, n_bins)`` uses, and its errors (``_nbins_to_bins``).

    `n_bins` equal widths over ``[min, max]``, the first edge moved down by 0.1% of
    the range so that the minimum falls into the first (right-closed) bin.
    """
    if n_bins < 1:
        msg = "`bins` should be a positive integer."
        raise ValueError(msg)
    if x.size == 0:
        msg = "Cannot cut empty array"
        raise ValueError(msg)
    mn, mx = x.min(), x.max()
    if np.isinf(mn) or np.isinf(mx):
        msg = "cannot specify integer `bins` when input data contains infinity"
        raise ValueError(msg)
    if mn == mx:  # adjust end points before binning
        mn -= 0.001 * abs(mn) if mn != 0 else 0.001
        mx += 0.001 * abs(mx) if mx != 0 else 0.001
        return np.linspace(mn, mx, n_bins + 1, endpoint=True)
    edges = np.linspace(mn, mx, n_bins + 1, endpoint=True)
    edges[0] -= (mx - mn) * 0.001  # adjust end points after binning
    return edges


def combine_batches(
    means: NDArray[np.float64],
    dispersions: NDArray[np.float64],
    dispersions_norm: NDArray[np.float64],
    highly_variable: NDArray[np.bool_],
    *,
    name_order: NDArray[np.intp],
    n_top: int | None = None,
    bounds: tuple[float, float, float, float] | None = None,
) -> tuple[dict[str, NDArray], NDArray[np.intp] | slice]:
    """Merge the batches' ``(n_batches, n_genes)`` tables as scanpy does.

    scanpy concatenates them and takes ``groupby(gene).agg(mean, sum)``: pandas'
    Kahan mean over each gene's batches (:func:`.dispersion.batch_means`), the
    genes in name order (``name_order``: the argsort of the gene names, which are
    unique).  The merged genes are selected either as the ``n_top`` chosen by most
    batches, ties broken by the mean normalized dispersion (NaN last), in a stable
    sort in name order; or by ``bounds = (min_mean, max_mean, min_disp, max_disp)``
    (open intervals) on the means and the normalized dispersions, NaN taken as 0.
    Returns the columns ``means``, ``dispersions``, ``dispersions_norm``,
    ``highly_variable``, ``highly_variable_nbatches``,
    ``highly_variable_intersection`` and the order of their rows: the genes' own
    order with ``n_top`` (scanpy reorders the table back), else name order.
    """
    n_batches, n_genes = means.shape
    nbatches = highly_variable.sum(axis=0, dtype=np.int64)
    out = dict(
        means=batch_means(means),
        dispersions=batch_means(dispersions),
        dispersions_norm=batch_means(dispersions_norm),
        highly_variable=np.zeros(n_genes, dtype=bool),
        highly_variable_nbatches=nbatches,
        highly_variable_intersection=nbatches == n_batches,
    )
    if n_top is not None:
        nb, dn = nbatches[name_order], out["dispersions_norm"][name_order]
        nan = np.isnan(dn)
        order = name_order[np.lexsort((np.where(nan, 0.0, -dn), nan, -nb))]
        out["highly_variable"][order[:n_top]] = True
        return out, slice(None)
    dn = out["dispersions_norm"] = np.where(  # similar to Seurat
        np.isnan(out["dispersions_norm"]), 0.0, out["dispersions_norm"]
    )
    min_mean, max_mean, min_disp, max_disp = bounds
    m = out["means"]
    out["highly_variable"] = (
        (m > min_mean) & (m < max_mean) & (dn > min_disp) & (dn < max_disp)
    )
    return {c: v[name_order] for c, v in out.items()}, name_order


def descending_ranks(x: NDArray[np.floating]) -> NDArray[np.intp]:
    """``np.argsort(np.argsort(-x, axis=1), axis=1)``: each row's ranks, largest first.

    The second argsort, of a permutation, is its inverse, written directly (O(n)).
    """
    order = np.argsort(-x, axis=1)
    ranks = np.empty_like(order)
    ranks[np.arange(order.shape[0])[:, np.newaxis], order] = np.arange(order.shape[1])
    return ranks


def category_codes(
    codes: NDArray[np.integer], labels: NDArray
) -> tuple[NDArray, NDArray[np.int64]]:
    """``np.unique(labels[codes], return_inverse=True)`` of a categorical's codes.

    Only the labels in use are sorted, not one label per cell (distinct labels: any
    sort gives `np.unique`'s order).  ``codes`` must have no missing value (-1).
    """
    present = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    used = labels[present]
    order = np.argsort(used)
    lookup = np.empty(len(labels), dtype=np.int64)
    lookup[present[order]] = np.arange(len(present))
    return used[order], lookup[codes]


# ----------------------------------------------------------- pearson residuals
def pearson_residual_variances(
    m: Matrix,
    codes: NDArray[np.int64],
    n_batches: int,
    *,
    clip: float,
    theta: float,
) -> NDArray[np.float64]:
    """Variance of the clipped Pearson residuals of every gene in every batch.

    What scanpy's ``_calculate_res_sparse``/``_dense`` compute on each batch's
    matrix restricted to its genes with nonzero sums (0 for the others), in one pass
    without visiting zeros (:mod:`.pearson`): ``(n_batches, n_genes)``.  Needs
    counts: a negative, NaN or infinite value raises a ValueError (there is no
    residual of such a value).
    """
    if m.data.size:
        lo, hi = m.data.min(), m.data.max()  # NaN propagates to both
        if not (lo >= 0 and hi < np.inf):
            kind = "NaN" if np.isnan(lo) else "negative" if lo < 0 else "infinite"
            msg = f"Pearson residuals need raw counts, but the data has {kind} values."
            raise ValueError(msg)
    if m.fmt == "csc":
        m = sorted_indices(m)
    # per batch: sums in the data dtype (dense: float64), as scanpy sums its batch
    sums_genes, sums_cells = pearson.pearson_sums(m, codes, n_batches)
    sum_total = np.array([np.float64(np.sum(g[g != 0])) for g in sums_genes])
    clips = np.full(n_batches, clip, dtype=np.float64)
    theta = np.float64(theta)
    zero = pearson.pearson_zero_terms(
        codes, n_batches, sums_genes, sums_cells, sum_total, clips, theta
    )
    return pearson.pearson_residual_var(
        m, codes, n_batches, sums_genes, sums_cells, sum_total, clips, theta, zero
    )
