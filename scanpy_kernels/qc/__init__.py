"""Quality-control metrics (``calculate_qc_metrics``, ``describe_obs``, ``describe_var``).

The drivers (:mod:`.drivers`) take a canonical CSR :class:`~.._input.Matrix` or a
C-contiguous array and return scanpy's sums bit for bit:
:func:`obs_sums` (per cell: totals, ``qc_vars`` totals, ``percent_top`` proportions, in
one pass over the rows, kernels :func:`.rows.qc_rows_csr` / ``qc_rows_dense``) and
:func:`var_sums` (per gene: totals and cell counts, a column sweep, kernels
:func:`.columns.qc_columns_csr` / ``qc_columns_dense``).
"""

from __future__ import annotations

from .columns import qc_columns_csr, qc_columns_dense
from .drivers import ObsSums, VarSums, obs_sums, var_sums
from .rows import qc_rows_csr, qc_rows_dense

__all__ = [
    "ObsSums",
    "VarSums",
    "obs_sums",
    "qc_columns_csr",
    "qc_columns_dense",
    "qc_rows_csr",
    "qc_rows_dense",
    "var_sums",
]
