"""Welford's online mean and variance, as ``scanpy.get._kernels`` computes them.

scanpy's ``aggregate(func=["mean", "var"])`` (``mean_var_{csr,csc,dense}``) runs
Welford's update over each group's cells in ascending row order; sparse inputs run it
over the stored values only and then merge the block of implicit zeros.  The kernels
of both families that reproduce it (``hvg.welford``, ``rank_genes_groups.group_stats``)
share these steps, so the operations and their order are written once.  pandas'
``groupby().std()`` runs the same update (``hvg.dispersion``).
"""

from __future__ import annotations

from .toolkit import helper

__all__ = ["merge_zeros", "welford_step"]


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
