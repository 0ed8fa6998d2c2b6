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
  ``_reduceat_aggregate``): the bin's first value plus numpy's pairwise sum of the
  rest (``loops_utils.h`` ``pairwise_sum``), over the count.  The frontend says
  which pandas it has (``reduceat_means``);
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
code ``-1`` get a NaN normalized dispersion here.  O(genes) work, serial.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._welford import welford_step
from ..toolkit import helper, kernel, routine

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "batch_means",
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


@helper
def _normalize(dispersions, codes, avg, dev):
    """``(dispersions - avg[bin]) / dev[bin]`` per gene; NaN without a bin."""
    norm = np.empty(dispersions.shape[0])
    for i in range(dispersions.shape[0]):
        b = codes[i]
        norm[i] = (dispersions[i] - avg[b]) / dev[b] if b >= 0 else np.nan
    return norm


#: numpy's pairwise summation: blocks of at most this many values are summed in 8 lanes
_PW_BLOCKSIZE = 128


@routine
def _pairwise_block(v, lo, n):
    """Return numpy's pairwise sum of ``v[lo:lo + n]``, ``n <= 128`` (8 lanes, a tail)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += v[i]
        return res
    r0, r1, r2, r3 = v[lo], v[lo + 1], v[lo + 2], v[lo + 3]
    r4, r5, r6, r7 = v[lo + 4], v[lo + 5], v[lo + 6], v[lo + 7]
    i = lo + 8
    end8 = lo + n - n % 8
    while i < end8:
        r0 += v[i]
        r1 += v[i + 1]
        r2 += v[i + 2]
        r3 += v[i + 3]
        r4 += v[i + 4]
        r5 += v[i + 5]
        r6 += v[i + 6]
        r7 += v[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += v[i]
        i += 1
    return res


@helper
def _pairwise_split(n):
    """Where numpy splits ``n > 128`` values: about half, a multiple of 8."""
    n2 = n // 2
    return n2 - n2 % 8


@routine
def _pairwise_sum(v, lo, n, frames, partial):
    """Return numpy's pairwise sum of ``v[lo:lo + n]`` (``DOUBLE_pairwise_sum``).

    numpy recurses: ``sum(a[:n2]) + sum(a[n2:])`` above 128 values.  Here the same tree
    is walked with an explicit stack: ``frames[d] = (lo, n, right_started)``,
    ``partial[d]`` the finished left half (64 levels cover any array).
    """
    if n <= _PW_BLOCKSIZE:
        return _pairwise_block(v, lo, n)
    depth = 0
    frames[0, 0] = lo
    frames[0, 1] = n
    frames[0, 2] = 0
    while True:
        f_lo = frames[depth, 0]
        f_n = frames[depth, 1]
        if f_n > _PW_BLOCKSIZE:  # descend into the left half
            depth += 1
            frames[depth, 0] = f_lo
            frames[depth, 1] = _pairwise_split(f_n)
            frames[depth, 2] = 0
            continue
        total = _pairwise_block(v, f_lo, f_n)
        depth -= 1
        # hand the finished sum up: a left half starts its right half, a right
        # half completes its parent
        while depth >= 0 and frames[depth, 2] == 1:
            total = partial[depth] + total
            depth -= 1
        if depth < 0:
            return total
        partial[depth] = total
        frames[depth, 2] = 1
        n2 = _pairwise_split(frames[depth, 1])
        depth += 1
        frames[depth, 0] = frames[depth - 1, 0] + n2
        frames[depth, 1] = frames[depth - 1, 1] - n2
        frames[depth, 2] = 0


@routine
def _reduceat_means(dispersions, n_bins, n_values):
    """Return pandas' means of sorted bins without NaN: ``reduceat(x, starts) / sizes``.

    ``reduceat`` starts each bin's sum at its first value and adds numpy's pairwise
    sum of the others.
    """
    frames = np.empty((64, 3), np.int64)
    partial = np.empty(64)
    avg = np.full(n_bins, np.nan)
    start = 0
    for b in range(n_bins):
        n = n_values[b]
        if n > 0:
            rest = _pairwise_sum(dispersions, start + 1, n - 1, frames, partial)
            avg[b] = (
                (dispersions[start] + rest) / n if n > 1 else dispersions[start] / n
            )
            start += n
    return avg


@kernel(
    signatures=[
        "Tuple((float64[::1], int64[::1]))(float64[::1], int64[::1], int64, boolean)"
    ],
    parallel=False,
)
def normalized_dispersions_mean_std(dispersions, codes, n_bins, reduceat_means):
    """Flavor seurat: normalize by the bins' mean and std (pandas' algorithms).

    ``reduceat_means``: pandas averages bins that never decrease, without NaN, with
    ``np.add.reduceat`` (pandas >= 3.1).  Returns the normalized dispersions and, per
    bin, how many non-NaN values it has (a bin with at most one got ``dev = avg,
    avg = 0``).
    """
    sorted_bins = reduceat_means
    for i in range(1, codes.shape[0] if reduceat_means else 0):
        if codes[i] < codes[i - 1]:
            sorted_bins = False
    total = np.zeros(n_bins)  # Kahan sum
    carry = np.zeros(n_bins)  # its compensation
    mean = np.zeros(n_bins)  # Welford (pandas' group_var: the same update)
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
    # pandas' reduceat path: bins never decrease, no NaN (then every gene has a value)
    if sorted_bins and np.sum(n_values) == dispersions.shape[0]:
        avg = _reduceat_means(dispersions, n_bins, n_values)
    else:
        avg = np.empty(n_bins)
        for b in range(n_bins):
            avg[b] = total[b] / n_values[b] if n_values[b] > 0 else np.nan
    dev = np.empty(n_bins)
    for b in range(n_bins):
        n = n_values[b]
        dev[b] = np.sqrt(m2[b] / (n - 1)) if n > 1 else np.nan
        if np.isnan(dev[b]):  # scanpy's `_postprocess_dispersions_seurat`
            dev[b] = avg[b]
            avg[b] = 0.0
    return _normalize(dispersions, codes, avg, dev), n_values


@routine
def _heapsort(v, lo, hi):
    """Sort ``v[lo:hi]`` (no NaN) in place: heapsort, no allocation."""
    n = hi - lo
    for root in range(n // 2 - 1, -1, -1):
        _sift_down(v, lo, root, n)
    for end in range(n - 1, 0, -1):
        v[lo], v[lo + end] = v[lo + end], v[lo]
        _sift_down(v, lo, 0, end)


@routine
def _sift_down(v, lo, root, n):
    """Move ``v[lo + root]`` down the max-heap ``v[lo:lo + n]`` to its place."""
    while True:
        child = 2 * root + 1
        if child >= n:
            return
        if child + 1 < n and v[lo + child] < v[lo + child + 1]:
            child += 1
        if v[lo + root] >= v[lo + child]:
            return
        v[lo + root], v[lo + child] = v[lo + child], v[lo + root]
        root = child


@helper
def _sorted_median(v, lo, hi):
    """Return numpy's and pandas' median of the sorted ``v[lo:hi]`` (not empty)."""
    n = hi - lo
    mid = lo + n // 2
    return v[mid] if n % 2 else (v[mid - 1] + v[mid]) / 2


@helper
def _mad_of_sorted(v, lo, hi, c):
    """``median(|v - med| / c)`` over the sorted ``v[lo:hi]`` (not empty), ``med`` its median.

    The deviations left of the middle increase leftwards, those right of it
    rightwards (rounding is monotone), so the ``n // 2``-th smallest (and the one
    before it) come from merging the two runs outward: O(n), no sort.
    """
    n = hi - lo
    med = _sorted_median(v, lo, hi)
    left = lo + n // 2 - 1  # next candidate walking left
    right = lo + n // 2  # next candidate walking right
    prev = np.nan
    cur = np.nan
    for _ in range(n // 2 + 1):
        take_left = left >= lo and (
            right >= hi or np.abs(v[left] - med) / c <= np.abs(v[right] - med) / c
        )
        prev = cur
        if take_left:
            cur = np.abs(v[left] - med) / c
            left -= 1
        else:
            cur = np.abs(v[right] - med) / c
            right += 1
    return cur if n % 2 else (prev + cur) / 2


@kernel(
    signatures=["float64[::1](float64[::1], int64[::1], int64, float64)"],
    parallel=False,
)
def normalized_dispersions_median_mad(dispersions, codes, n_bins, c):
    """Flavor cell_ranger: normalize by the bins' median and MAD (``c``: its constant)."""
    n = dispersions.shape[0]
    # the non-NaN values bin by bin (a counting sort by bin), each bin then sorted
    start = np.zeros(n_bins + 1, np.int64)
    has_nan = np.zeros(n_bins, np.bool_)
    for i in range(n):
        b = codes[i]
        if b >= 0:
            if not np.isnan(dispersions[i]):
                start[b + 1] += 1
            else:
                has_nan[b] = True
    for b in range(n_bins):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    by_bin = np.empty(start[n_bins])
    for i in range(n):
        b = codes[i]
        if b >= 0 and not np.isnan(dispersions[i]):
            by_bin[fill[b]] = dispersions[i]
            fill[b] += 1
    avg = np.full(n_bins, np.nan)
    dev = np.full(n_bins, np.nan)
    for b in range(n_bins):
        lo = start[b]
        hi = start[b + 1]
        if hi > lo:
            _heapsort(by_bin, lo, hi)
            avg[b] = _sorted_median(by_bin, lo, hi)
            if not has_nan[b]:
                dev[b] = _mad_of_sorted(by_bin, lo, hi, c)
    return _normalize(dispersions, codes, avg, dev)


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
