"""Flavors seurat and cell_ranger: mean bins and normalized dispersions, as pandas.

scanpy 1.12.4 (``_highly_variable_genes.py``) bins the genes by mean with ``pd.cut``
and normalizes each gene's dispersion by its bin's statistics, computed with a pandas
``groupby``::

    mean_bin = pd.cut(means, bins)                              # right-closed bins
    seurat:       avg, dev = groupby(mean_bin).dispersions.agg("mean", "std")
                  a bin with one value (dev NaN): dev = avg, avg = 0
    cell_ranger:  avg, dev = groupby(mean_bin).dispersions.agg("median", statsmodels.mad)
    dispersions_norm = (dispersions - avg[mean_bin]) / dev[mean_bin]

These kernels reproduce each step bitwise, with pandas' own algorithms (pandas 3.1,
``_libs/groupby.pyx``), over genes in their order:

- ``mean``: Kahan-compensated sum of the bin's non-NaN values over their count
  (``group_mean``; a NaN compensation, after an infinite value, is reset to 0).  But
  pandas >= 3.1, when the genes' bins never decrease (sorted means, one bin, few
  genes) and no dispersion is NaN, takes ``np.add.reduceat`` instead (``ops.py``
  ``_reduceat_aggregate``), which :func:`normalized_dispersions_mean_std` then
  calls too.  The frontend says which pandas it has (``reduceat_means``);
- ``std``: Welford's update over the same values, ``sqrt(M2 / (n - 1))``, NaN when
  ``n <= 1`` (``group_var``);
- ``median``: of the non-NaN values, the middle one or the mean of the two middle ones
  (``group_median_float64``), NaN if there are none;
- ``mad``: ``median(|x - median(x)| / c)`` over *all* the bin's values (statsmodels'
  ``mad``, ``c = norm.ppf(3/4)``, with numpy's median): NaN if any value is NaN.

The frontend computes the edges (pandas' equal widths for seurat, numpy percentiles
for cell_ranger), the dispersions (numpy's ``log``/``log1p``, whose SIMD versions
differ in the last bit from the C library's that numba calls), the category labels,
and refuses genes outside every bin (NaN means) before calling them.  Genes with
code ``-1`` get a NaN normalized dispersion here.  O(genes) work, serial: the kernel
:func:`bin_mean_m2` is the sequential per-bin update; the bins, the reduceat means,
the per-bin medians and MADs (:func:`bin_median_mad`: sorts), the postprocessing and
the normalization are numpy (the same operations per element; no kernel to compile
for them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._welford import welford_step
from ..toolkit import helper, kernel

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "batch_means",
    "bin_mean_m2",
    "bin_median_mad",
    "mean_bins",
    "normalized_dispersions_mean_std",
    "normalized_dispersions_median_mad",
]


def mean_bins(
    means: NDArray[np.float64], edges: NDArray[np.float64]
) -> NDArray[np.int64]:
    """Bin of every mean, as ``pd.cut(means, edges)``'s codes: right-closed bins.

    Bin ``k`` is ``(edges[k], edges[k + 1]]``; ``-1`` for NaN and for values at or
    below ``edges[0]`` or above ``edges[-1]``.  ``edges`` increase strictly.  numpy
    (O(genes): a kernel cost ~0.2 s to compile per process), pandas' own search:
    ``k = edges.searchsorted(x, side="left")``, the first edge ``>= x``.
    """
    k = np.searchsorted(edges, means, side="left")
    inside = (k > 0) & (k < edges.shape[0]) & ~np.isnan(means)
    return np.where(inside, k - 1, -1).astype(np.int64)


@helper
def _kahan_add(total, carry, x):
    """Return ``(total, carry)`` after adding ``x`` (pandas' ``group_mean`` step).

    A NaN compensation (after an infinite value) is reset to 0, as pandas does.
    """
    y = x - carry
    t = total + y
    carry = t - total - y
    return t, 0.0 if np.isnan(carry) else carry


@kernel(
    signatures=[
        "Tuple((float64[::1], float64[::1], int64[::1]))(float64[::1], int64[::1], int64)"
    ],
    parallel=False,
)
def bin_mean_m2(dispersions, codes, n_bins):
    """Per bin: pandas' Kahan mean and Welford M2 of its non-NaN values, their count.

    Genes in order, ``codes[i] < 0`` skipped (``group_mean`` and ``group_var``: the
    same update as :func:`.._welford.welford_step`).  A bin without values: NaN mean.
    """
    total = np.zeros(n_bins)  # Kahan sum
    carry = np.zeros(n_bins)  # its compensation
    mean = np.zeros(n_bins)  # Welford (pandas' group_var)
    m2 = np.zeros(n_bins)
    n_values = np.zeros(n_bins, np.int64)
    for i in range(dispersions.shape[0]):
        b = codes[i]
        x = dispersions[i]
        if b < 0 or np.isnan(x):
            continue
        n_values[b] += 1
        total[b], carry[b] = _kahan_add(total[b], carry[b], x)
        mean[b], m2[b] = welford_step(mean[b], m2[b], n_values[b], x)
    avg = np.empty(n_bins)
    for b in range(n_bins):
        avg[b] = total[b] / n_values[b] if n_values[b] > 0 else np.nan
    return avg, m2, n_values


def normalized_dispersions_mean_std(
    dispersions: NDArray[np.float64],
    codes: NDArray[np.int64],
    n_bins: int,
    reduceat_means: bool,  # noqa: FBT001 (the kernels' argument order)
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Flavor seurat: normalize by the bins' mean and std (pandas' algorithms).

    ``reduceat_means``: pandas averages bins that never decrease, without NaN, with
    ``np.add.reduceat`` (pandas >= 3.1), which this calls then.  Returns the
    normalized dispersions and, per bin, how many non-NaN values it has (a bin with
    at most one got ``dev = avg, avg = 0``).  The O(genes) steps after the bins'
    statistics (:func:`bin_mean_m2`) are numpy: the same operations per element.
    """
    avg, m2, n_values = bin_mean_m2(dispersions, codes, n_bins)
    # pandas' reduceat path: bins never decrease, no NaN (then every gene has a value)
    if (
        reduceat_means
        and dispersions.size > 0
        and n_values.sum() == dispersions.size
        and (codes[1:] >= codes[:-1]).all()
    ):
        starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
        bins = codes[starts]
        avg = np.full(n_bins, np.nan)
        avg[bins] = np.add.reduceat(dispersions, starts) / n_values[bins]
    with np.errstate(divide="ignore", invalid="ignore"):
        dev = np.where(n_values > 1, np.sqrt(m2 / (n_values - 1)), np.nan)
        alone = np.isnan(dev)  # scanpy's `_postprocess_dispersions_seurat`
        dev[alone] = avg[alone]
        avg[alone] = 0.0
        return _normalize(dispersions, codes, avg, dev), n_values


def _normalize(dispersions, codes, avg, dev):
    """``(dispersions - avg[bin]) / dev[bin]`` per gene; NaN without a bin."""
    if avg.size == 0:
        return np.full(dispersions.shape, np.nan)
    at = np.maximum(codes, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(codes >= 0, (dispersions - avg[at]) / dev[at], np.nan)


def _sorted_median(v: NDArray[np.float64]) -> np.float64:
    """Return numpy's and pandas' median of the sorted ``v`` (not empty)."""
    mid = v.shape[0] // 2
    return v[mid] if v.shape[0] % 2 else (v[mid - 1] + v[mid]) / 2


def bin_median_mad(
    dispersions: NDArray[np.float64], codes: NDArray[np.int64], n_bins: int, c: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per bin: pandas' median and statsmodels' MAD (``c``: its constant).

    The bins' non-NaN values sorted by (bin, value) in one ``np.lexsort``, then per
    bin the middle values (pandas' ``group_median_float64``) and the median of the
    sorted ``|v - median| / c`` (statsmodels' ``mad``: NaN if the bin has a NaN).
    numpy: ~1 ms on 20,000 genes, where a kernel (heapsort per bin) took 0.1 ms but
    1.1 s to compile on a cold cache.  Empty bins: NaN, NaN.
    """
    avg = np.full(n_bins, np.nan)
    dev = np.full(n_bins, np.nan)
    binned = codes >= 0
    nan = np.isnan(dispersions)
    has_nan = np.zeros(n_bins, bool)
    has_nan[codes[binned & nan]] = True
    keep = np.flatnonzero(binned & ~nan)
    order = keep[np.lexsort((dispersions[keep], codes[keep]))]
    values = dispersions[order]
    start = np.searchsorted(codes[order], np.arange(n_bins + 1))
    for b in range(n_bins):
        v = values[start[b] : start[b + 1]]
        if v.size:
            avg[b] = _sorted_median(v)
            if not has_nan[b]:
                dev[b] = _sorted_median(np.sort(np.abs(v - avg[b]) / c))
    return avg, dev


def normalized_dispersions_median_mad(
    dispersions: NDArray[np.float64], codes: NDArray[np.int64], n_bins: int, c: float
) -> NDArray[np.float64]:
    """Flavor cell_ranger: normalize by the bins' median and MAD (:func:`bin_median_mad`)."""
    return _normalize(
        dispersions, codes, *bin_median_mad(dispersions, codes, n_bins, c)
    )


def batch_means(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Mean over the batches (rows) of every gene (column), as scanpy combines batches.

    scanpy concatenates the batches' tables and takes ``groupby(gene).mean()``: pandas'
    Kahan mean per gene over its non-NaN values in batch order (NaN if none; with
    two or more batches the genes' groups are never sorted, so never reduceat).
    numpy, one Kahan step (:func:`_kahan_add`'s operations) per batch for all genes
    at once: O(batches x genes), no kernel to compile.
    """
    n_batches, n_genes = values.shape
    total = np.zeros(n_genes)
    carry = np.zeros(n_genes)
    n = np.zeros(n_genes, np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        for b in range(n_batches):
            x = values[b]
            taken = ~np.isnan(x)
            y = x - carry
            t = total + y
            c = t - total - y
            c[np.isnan(c)] = 0.0  # pandas resets a NaN compensation (after an inf)
            total = np.where(taken, t, total)
            carry = np.where(taken, c, carry)
            n += taken
        return np.where(n > 0, total / n, np.nan)
