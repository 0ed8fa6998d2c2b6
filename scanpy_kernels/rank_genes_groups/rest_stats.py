"""Compute the "rest" statistics of each selected group from the per-slot rows only.

Reproduces ``_RankGenes._derive_rest_stats`` / ``_vars_rest`` of scanpy 1.12.4 bit for
bit.  Inputs are the ``(n_groups + 1, n_genes)`` outputs of :mod:`..aggregate` (last
row: cells in no selected group) and the slot sizes ``counts`` (``n_groups + 1``).
The rest of group ``g`` is every cell not in ``g`` (remainder slot included).
"""

from __future__ import annotations

import numba
import numpy as np

from ..toolkit import helper, kernel, thread_scratch

__all__ = ["rest_mean_pts", "rest_var"]


def _ex_rest(rng, *, nnz):
    counts = np.array([0, 1, 2, 5, 40, 3], np.int64)  # empty and singleton slots
    shape = (counts.size, 20)
    mean = rng.gamma(1.0, size=shape)
    mean[0] = 0.0
    second = (
        rng.integers(0, 3, shape).astype(np.int64)
        if nnz
        else rng.gamma(0.5, size=shape)
    )
    if not nnz:
        second[1] = np.nan  # ddof=1 variance of a single cell
        second[0] = 0.0
    return [(counts, mean, second)]


@kernel(
    signatures=[
        "Tuple((float64[:, ::1], float64[:, ::1]))(int64[::1], float64[:, ::1], int64[:, ::1])"
    ],
    example=lambda rng: _ex_rest(rng, nnz=True),
)
def rest_mean_pts(counts, mean, nnz):
    """``(means_rest, pts_rest)``, each ``(n_groups, n_genes)``.

    ``total = Σ_i counts[i]·mean[i]`` (slots in order, as numpy's axis-0 sum),
    ``means_rest[g] = (total - counts[g]·mean[g]) / (N - counts[g])`` and
    ``pts_rest[g] = (Σ_i nnz[i] - nnz[g]) / (N - counts[g])``, ``N = Σ counts``.
    """
    n_slots, n_genes = mean.shape
    k = n_slots - 1
    n_total = 0
    for i in range(n_slots):
        n_total += counts[i]
    means_rest = np.empty((k, n_genes))
    pts_rest = np.empty((k, n_genes))
    for j in numba.prange(n_genes):
        total = np.float64(counts[0]) * mean[0, j]
        nnz_total = nnz[0, j]
        for i in range(1, n_slots):
            total += np.float64(counts[i]) * mean[i, j]
            nnz_total += nnz[i, j]
        for g in range(k):
            n_rest = np.float64(n_total - counts[g])
            means_rest[g, j] = (total - np.float64(counts[g]) * mean[g, j]) / n_rest
            pts_rest[g, j] = np.float64(nnz_total - nnz[g, j]) / n_rest
    return means_rest, pts_rest


@helper
def _chan(n_a, mean_a, m2_a, n_b, mean_b, m2_b):
    """Chan et al. pairwise combine of ``(count, mean, M2)`` (scanpy's ``_chan_combine``)."""
    if n_a == 0.0:
        return n_b, mean_b, m2_b
    if n_b == 0.0:
        return n_a, mean_a, m2_a
    n = n_a + n_b
    delta = mean_b - mean_a
    return (
        n,
        (n_a * mean_a + n_b * mean_b) / n,
        m2_a + m2_b + delta * delta * n_a * n_b / n,
    )


@kernel(
    signatures=["float64[:, ::1](int64[::1], float64[:, ::1], float64[:, ::1])"],
    example=lambda rng: _ex_rest(rng, nnz=False),
)
def rest_var(counts, mean, var):
    """``vars_rest`` ``(n_groups, n_genes)``: leave-one-out variance (ddof=1) of each group.

    ``M2_i = var_i (n_i - 1)`` (0 for ``n_i <= 1``); the rest of ``g`` is the Chan
    combine of slots ``0..g-1`` (forward scan) with slots ``g+1..`` (backward scan),
    ``var = M2 / (n - 1)``: scanpy's ``_vars_rest``, same order of operations.
    """
    n_slots, n_genes = mean.shape
    k = n_slots - 1
    out = np.empty((k, n_genes))
    # per thread: forward and backward scans, (count, mean, M2) per slot
    scans = thread_scratch(6 * n_slots, np.float64)
    for j in numba.prange(n_genes):
        acc = scans[numba.get_thread_id()]
        c, mu, m2 = 0.0, 0.0, 0.0
        for i in range(n_slots):  # forward: slots 0..i
            n_i = np.float64(counts[i])
            m2_i = var[i, j] * (counts[i] - 1) if counts[i] > 1 else 0.0
            c, mu, m2 = _chan(c, mu, m2, n_i, mean[i, j], m2_i)
            acc[3 * i] = c
            acc[3 * i + 1] = mu
            acc[3 * i + 2] = m2
        back = 3 * n_slots
        c, mu, m2 = 0.0, 0.0, 0.0
        for i in range(n_slots - 1, -1, -1):  # backward: slots i..end
            n_i = np.float64(counts[i])
            m2_i = var[i, j] * (counts[i] - 1) if counts[i] > 1 else 0.0
            c, mu, m2 = _chan(c, mu, m2, n_i, mean[i, j], m2_i)
            acc[back + 3 * i] = c
            acc[back + 3 * i + 1] = mu
            acc[back + 3 * i + 2] = m2
        for g in range(k):
            a = back + 3 * (g + 1)  # slots g+1..end
            if g >= 1:
                b = 3 * (g - 1)  # slots 0..g-1
                n_r, _, m2_r = _chan(
                    acc[b], acc[b + 1], acc[b + 2], acc[a], acc[a + 1], acc[a + 2]
                )
            else:
                n_r, m2_r = acc[a], acc[a + 2]
            out[g, j] = m2_r / (n_r - 1.0)
    return out
