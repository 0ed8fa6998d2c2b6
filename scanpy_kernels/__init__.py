"""scanpy's kernel layer: pure, parallel, verified numba kernels and their drivers.

Vendored verbatim as ``scanpy._kernels``; relative imports only.  A frontend (a scanpy
function) validates its arguments, turns its matrix into the kernel input with
:func:`as_matrix` (or keeps scanpy's own code where that raises :class:`UnsupportedInputError`),
calls a family's drivers and writes the results:

- :mod:`.aggregate`: ``get.aggregate`` (and the group statistics of ``hvg`` and
  ``rank_genes_groups``): :func:`.aggregate.sums` (sum, count_nonzero),
  :func:`.aggregate.mean_var`, :func:`.aggregate.medians`;
- :mod:`.hvg`: ``highly_variable_genes`` (seurat, cell_ranger, seurat_v3, Pearson
  residuals): :func:`.hvg.mean_var`, :func:`.hvg.welford_mean_var`,
  :func:`.hvg.clipped_sums`, :func:`.hvg.dispersions_seurat`,
  :func:`.hvg.dispersions_cell_ranger`, :func:`.hvg.combine_batches`,
  :func:`.hvg.pearson_residual_variances`;
- :mod:`.rank_genes_groups`: :func:`.rank_genes_groups.group_means`,
  :func:`.rank_genes_groups.group_mean_var`, :func:`.rank_genes_groups.ranksums`,
  :func:`.rank_genes_groups.wilcoxon_zscores` and the rest statistics;
- :mod:`.qc`: ``calculate_qc_metrics``: :func:`.qc.obs_sums` (per-cell totals,
  ``qc_vars`` totals, ``percent_top`` proportions) and :func:`.qc.var_sums`;
- :mod:`.normalize`: ``normalize_total``: :func:`.normalize.normalize_total` (size
  factors and the scaled values of a CSR matrix);
- :mod:`.scale`: ``scale``: :func:`.scale.scale` (a CSR matrix zero-centred into a
  dense array or its stored values scaled in place; an array in place);
- :mod:`.regress`: ``regress_out`` on a categorical key:
  :func:`.regress.regress_out_categorical`;
- :mod:`.filtering`: ``filter_cells``/``filter_genes``: :func:`.filtering.n_positive`
  (expressed genes per cell, expressing cells per gene; numpy and scipy only);
- :mod:`.metrics`: ``metrics.morans_i``/``metrics.gearys_c`` of many features:
  :func:`.metrics.morans_i`, :func:`.metrics.gearys_c` (one walk over the graph for a
  block of features);
- :mod:`.counts`: :func:`.counts.are_counts` (the raw-count check; kernel
  :func:`.counts.nonnegative_integers`).

Drivers own block planning, memory budgets, thread slots and format routing; kernels
(in each family's modules) take arrays only, never AnnData, strings or flavors.
"""

from __future__ import annotations

from . import (
    aggregate,
    counts,
    filtering,
    hvg,
    metrics,
    normalize,
    qc,
    rank_genes_groups,
    regress,
    scale,
)
from ._input import Matrix, UnsupportedInputError, as_matrix, sorted_indices
from ._version import __version__

__all__ = [
    "Matrix",
    "UnsupportedInputError",
    "__version__",
    "aggregate",
    "as_matrix",
    "counts",
    "filtering",
    "hvg",
    "metrics",
    "normalize",
    "qc",
    "rank_genes_groups",
    "regress",
    "scale",
    "sorted_indices",
]
