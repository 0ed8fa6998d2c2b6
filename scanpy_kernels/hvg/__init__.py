"""Highly-variable genes (seurat, cell_ranger, seurat_v3, Pearson residuals).

The drivers (:mod:`.drivers`: a :class:`~.._input.Matrix` in, arrays out) are what
scanpy's frontends call; the kernels they route to take raw CSR/CSC components or
C-contiguous arrays: the moments and sums over cells, and (``dispersion``) the mean
bins and normalized dispersions over genes of flavors seurat and cell_ranger.
Batches are given as ``codes`` (int64 per row, ``-1``: skip row).
"""

from __future__ import annotations

from .._welford import (
    welford_mean_var_csc,
    welford_mean_var_csr,
    welford_mean_var_dense,
)
from .clipped_sums import clipped_sums_csc, clipped_sums_csr, clipped_sums_dense
from .dispersion import (
    batch_means,
    bin_mean_m2,
    bin_median_mad,
    mean_bins,
    normalized_dispersions_mean_std,
    normalized_dispersions_median_mad,
)
from .drivers import (
    Dispersions,
    category_codes,
    clipped_sums,
    combine_batches,
    descending_ranks,
    dispersions_cell_ranger,
    dispersions_seurat,
    mean_var,
    pearson_residual_variances,
    welford_mean_var,
)
from .mean_var import (
    mean_var_csc,
    mean_var_csr,
    mean_var_csr_blocks,
    mean_var_csr_sums,
    mean_var_dense,
    mean_var_from_sums,
)
from .pearson import (
    pearson_residual_var,
    pearson_residual_var_csc,
    pearson_residual_var_csr,
    pearson_residual_var_dense,
    pearson_sums,
    pearson_sums_dense,
    pearson_zero_table,
    pearson_zero_terms,
)

__all__ = [
    "Dispersions",
    "batch_means",
    "bin_mean_m2",
    "bin_median_mad",
    "category_codes",
    "clipped_sums",
    "clipped_sums_csc",
    "clipped_sums_csr",
    "clipped_sums_dense",
    "combine_batches",
    "descending_ranks",
    "dispersions_cell_ranger",
    "dispersions_seurat",
    "mean_bins",
    "mean_var",
    "mean_var_csc",
    "mean_var_csr",
    "mean_var_csr_blocks",
    "mean_var_csr_sums",
    "mean_var_dense",
    "mean_var_from_sums",
    "normalized_dispersions_mean_std",
    "normalized_dispersions_median_mad",
    "pearson_residual_var",
    "pearson_residual_var_csc",
    "pearson_residual_var_csr",
    "pearson_residual_var_dense",
    "pearson_residual_variances",
    "pearson_sums",
    "pearson_sums_dense",
    "pearson_zero_table",
    "pearson_zero_terms",
    "welford_mean_var",
    "welford_mean_var_csc",
    "welford_mean_var_csr",
    "welford_mean_var_dense",
]
