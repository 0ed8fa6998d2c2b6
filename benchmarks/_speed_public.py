"""Public implementations timed next to scanpy: biosparse 0.1.1 and illico 0.6.0.

Each runs in its own virtual environment and process (``build/bench-envs/<name>``;
illico calls ``numba.set_num_threads`` and never restores it).  A ``*_call`` function
maps a case and an AnnData to a zero-argument callable, or None where the package
has no comparable function.  Times are end to end from the same scipy matrix scanpy
gets: biosparse needs a genes x cells CSR in its own Rust-backed type, so the
conversion (transpose, int64 indices) is part of its time, as it would be for a user.

What is compared (semantics differ; the report says so):

- biosparse ``hvg_seurat`` / ``hvg_cell_ranger`` / ``hvg_seurat_v3`` /
  ``hvg_pearson_residuals`` with ``n_top_genes`` (its seurat takes the data as given,
  no ``expm1``; its seurat_v3 LOESS is its own).
- biosparse ``ttest`` (Welch) and ``mwu_test``: one call per group with 0/1 labels for
  "vs rest", one call with the reference as group 0 for "vs reference".
- illico ``asymptotic_wilcoxon`` (one-vs-rest, or one-vs-one against the reference),
  ``tie_correct`` as the case, no continuity correction (scanpy uses none).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

N_TOP = 2000


def _threads() -> int:
    return int(os.environ.get("NUMBA_NUM_THREADS", "2"))


def _genes_by_cells(x: Any) -> sp.csr_matrix:
    """The genes x cells CSR biosparse wants, from a cells x genes CSR/CSC."""
    c = x if sp.issparse(x) and x.format == "csc" else sp.csc_matrix(x)
    return sp.csr_matrix((c.data, c.indices, c.indptr), shape=(x.shape[1], x.shape[0]))


def biosparse_call(case: str, adata: Any) -> Callable[[], Any] | None:
    from biosparse import CSRF32
    from biosparse import kernel as bk

    x = adata.X
    n_top = min(N_TOP, adata.n_vars // 2)

    def to_bs() -> Any:
        return CSRF32.from_scipy(_genes_by_cells(x), copy=True)

    hvg = {
        "hvg_seurat": bk.hvg_seurat,
        "hvg_cell_ranger": bk.hvg_cell_ranger,
        "hvg_seurat_v3": bk.hvg_seurat_v3,
        "hvg_pearson": bk.hvg_pearson_residuals,
    }
    if case in hvg:
        fn = hvg[case]
        return lambda: fn(to_bs(), n_top)
    tests = {"rgg_t-test": bk.t_test, "rgg_wilcoxon": bk.mann_whitney_u,
             "rgg_wilcoxon_ref": bk.mann_whitney_u}
    if case not in tests:
        return None
    fn = tests[case]
    codes = adata.obs["group"].cat.codes.to_numpy().astype(np.int64)
    n_groups = int(codes.max()) + 1
    if case.endswith("_ref"):  # reference = category 0 -> group id 0, others 1..k
        ids = codes.copy()
        return lambda: fn(to_bs(), ids, n_groups - 1)

    def vs_rest() -> list[Any]:
        m = to_bs()
        return [fn(m, (codes == g).astype(np.int64), 1) for g in range(n_groups)]

    return vs_rest


def illico_call(case: str, adata: Any) -> Callable[[], Any] | None:
    if not case.startswith("rgg_wilcoxon"):
        return None
    from illico import asymptotic_wilcoxon

    ref = str(adata.obs["group"].cat.categories[0]) if "_ref" in case else None
    tie = case.endswith("_tie")
    return lambda: asymptotic_wilcoxon(
        adata, is_log1p=True, group_keys="group", reference=ref, n_threads=_threads(),
        tie_correct=tie, use_continuity=False, return_as_scanpy=True,
    )
