"""The benchmarked calls: every migrated scanpy function and flavor/method.

Shared by the asv suites (``benchmarks/suites/``) and ``benchmarks/speed.py``'s worker
processes.  A case knows its input (raw counts or log-normalised), which labels it
needs, and how to call scanpy; the call leaves the AnnData reusable (HVG with
``inplace=False``; ``rank_genes_groups`` rewrites the same ``uns`` key).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

N_TOP = 2000


@dataclass(frozen=True)
class Case:
    name: str
    family: str  # "hvg", "rgg", "qc", "filter", "normalize", "scale", "regress", "metrics", "aggregate"
    log1p: bool  # input: log-normalised (True) or raw counts (False)
    call: Callable[[Any, Any], Any]  # (scanpy module, adata) -> result
    needs_group: bool = False
    needs_batch: bool = False
    public: str | None = None  # comparable public implementation: "biosparse" / "illico"
    label: str = ""
    #: (adata) -> None: input the call needs, added once before it is timed
    prepare: Callable[[Any], None] | None = None

    def applies(self, adata: Any) -> bool:
        return (not self.needs_group or "group" in adata.obs) and (
            not self.needs_batch or "batch" in adata.obs
        )


def _n_top(adata: Any) -> int:
    return min(N_TOP, adata.n_vars // 2)


def _hvg(flavor: str, **kw: Any) -> Callable[[Any, Any], Any]:
    def call(sc: Any, adata: Any) -> Any:
        extra = dict(kw)
        if flavor.startswith("seurat_v3"):
            extra["n_top_genes"] = _n_top(adata)
        return sc.pp.highly_variable_genes(adata, flavor=flavor, inplace=False, **extra)

    return call


def _pearson(sc: Any, adata: Any) -> Any:
    return sc.experimental.pp.highly_variable_genes(
        adata, flavor="pearson_residuals", n_top_genes=_n_top(adata), inplace=False
    )


def _rgg(method: str, *, reference: bool = False, **kw: Any) -> Callable[[Any, Any], Any]:
    def call(sc: Any, adata: Any) -> Any:
        ref = str(adata.obs["group"].cat.categories[0]) if reference else "rest"
        sc.tl.rank_genes_groups(adata, "group", method=method, reference=ref, **kw)
        return adata.uns["rank_genes_groups"]

    return call


def _qc(sc: Any, adata: Any) -> Any:
    if "mt" not in adata.var:  # ~0.5% of the genes, as mitochondrial genes are
        adata.var["mt"] = [i % 200 == 0 for i in range(adata.n_vars)]
    return sc.pp.calculate_qc_metrics(adata, qc_vars=["mt"])


def _filter(func: str, **kw: Any) -> Callable[[Any, Any], Any]:
    def call(sc: Any, adata: Any) -> Any:
        """Count and threshold (``inplace=False``: the AnnData stays as it is)."""
        return getattr(sc.pp, func)(adata, inplace=False, **kw)

    return call


def _normalize(**kw: Any) -> Callable[[Any, Any], Any]:
    def call(sc: Any, adata: Any) -> Any:
        """Normalize ``adata.X`` in place, then put the counts back.

        scanpy replaces a sparse matrix's values array (CSC: the matrix, by a CSR
        copy) and leaves the old one unchanged, so keeping references restores the
        input in O(1): the next call and the next case see the counts again.
        """
        x, values = adata.X, adata.X.data
        sc.pp.normalize_total(adata, **kw)
        x.data = values
        adata.X = x

    return call


def _scale(sc: Any, adata: Any) -> Any:
    """Zero-centre and scale all genes into a dense array, then put the matrix back."""
    x = adata.X
    sc.pp.scale(adata, max_value=10)
    adata.X = x


def _regress_out(sc: Any, adata: Any) -> Any:
    """Regress out the batches (categorical) into a dense array, then put the matrix back."""
    x = adata.X
    sc.pp.regress_out(adata, "batch")
    adata.X = x


def _regress_out_continuous(sc: Any, adata: Any) -> Any:
    """Regress out two continuous keys (per-cell totals and genes), then put the matrix back."""
    if "total" not in adata.obs:  # computed here (numpy), the same on both sides
        x = adata.X
        adata.obs["total"] = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
        adata.obs["n_genes"] = np.diff(x.indptr) if x.format == "csr" else x.getnnz(axis=1)
    x = adata.X
    sc.pp.regress_out(adata, ["total", "n_genes"])
    adata.X = x


def _scale_no_center(sc: Any, adata: Any) -> Any:
    """Scale the stored values in place (scanpy's API): later calls rescale them.

    Each call does the same work on the values the last one left; it runs after every
    other case on the log-normalised matrix (last in this table), so none sees them.
    """
    sc.pp.scale(adata, zero_center=False, max_value=10)


def _with_graph(adata: Any, k: int = 15) -> None:
    """A 15-neighbour cell graph as ``sc.pp.neighbors`` stores it, and the first
    :data:`N_TOP` genes in ``obsm["X_hvg"]`` (built once per process, numpy/scipy, the
    same on both sides: a random graph, not scanpy's UMAP weights)."""
    from scipy import sparse

    if "connectivities" in adata.obsp:
        return
    rng = np.random.default_rng(0)
    n = adata.n_obs
    rows = np.repeat(np.arange(n), k)
    g = sparse.csr_matrix((rng.random(n * k), (rows, rng.integers(0, n, n * k))), (n, n))
    adata.obsp["connectivities"] = ((g + g.T) * 0.5).astype(np.float32).tocsr()
    adata.uns["neighbors"] = {"connectivities_key": "connectivities", "params": {}}
    adata.obsm["X_hvg"] = adata.X[:, : _n_top(adata)].tocsr()


def _metric(name: str) -> Callable[[Any, Any], Any]:
    def call(sc: Any, adata: Any) -> Any:
        """The metric of N_TOP genes (log-normalised, sparse) on the cell graph."""
        _with_graph(adata)  # (prepared before the timed calls: a no-op there)
        return getattr(sc.metrics, name)(adata, obsm="X_hvg")

    return call


def _aggregate(*funcs: str) -> Callable[[Any, Any], Any]:
    def call(sc: Any, adata: Any) -> Any:
        return sc.get.aggregate(adata, by="group", func=list(funcs))

    return call


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("hvg_seurat", "hvg", True, _hvg("seurat"), public="biosparse",
             label="highly_variable_genes(flavor='seurat')"),
        Case("hvg_cell_ranger", "hvg", True, _hvg("cell_ranger"),
             label="highly_variable_genes(flavor='cell_ranger')"),
        Case("hvg_seurat_batch", "hvg", True, _hvg("seurat", batch_key="batch"),
             needs_batch=True, label="highly_variable_genes(flavor='seurat', batch_key=4 batches)"),
        Case("hvg_seurat_v3", "hvg", False, _hvg("seurat_v3"), public="biosparse",
             label="highly_variable_genes(flavor='seurat_v3')"),
        Case("hvg_seurat_v3_batch", "hvg", False, _hvg("seurat_v3", batch_key="batch"),
             needs_batch=True, label="highly_variable_genes(flavor='seurat_v3', batch_key=4 batches)"),
        Case("hvg_seurat_v3_paper", "hvg", False, _hvg("seurat_v3_paper"),
             label="highly_variable_genes(flavor='seurat_v3_paper')"),
        Case("hvg_pearson", "hvg", False, _pearson, public="biosparse",
             label="experimental.pp.highly_variable_genes(flavor='pearson_residuals')"),
        Case("rgg_wilcoxon", "rgg", True, _rgg("wilcoxon"), needs_group=True,
             public="illico", label="rank_genes_groups(method='wilcoxon') vs rest"),
        Case("rgg_wilcoxon_tie", "rgg", True, _rgg("wilcoxon", tie_correct=True),
             needs_group=True, public="illico",
             label="rank_genes_groups(method='wilcoxon', tie_correct=True) vs rest"),
        Case("rgg_wilcoxon_ref", "rgg", True, _rgg("wilcoxon", reference=True),
             needs_group=True, public="illico",
             label="rank_genes_groups(method='wilcoxon') vs one reference"),
        Case("rgg_wilcoxon_ref_tie", "rgg", True,
             _rgg("wilcoxon", reference=True, tie_correct=True), needs_group=True,
             public="illico",
             label="rank_genes_groups(method='wilcoxon', tie_correct=True) vs one reference"),
        Case("rgg_t-test", "rgg", True, _rgg("t-test"), needs_group=True,
             public="biosparse", label="rank_genes_groups(method='t-test') vs rest"),
        Case("rgg_t-test_overestim_var", "rgg", True, _rgg("t-test_overestim_var"),
             needs_group=True, label="rank_genes_groups(method='t-test_overestim_var') vs rest"),
        Case("qc_metrics", "qc", False, _qc,
             label="calculate_qc_metrics(qc_vars=['mt']) (percent_top default)"),
        Case("filter_cells", "filter", False, _filter("filter_cells", min_genes=200),
             label="filter_cells(min_genes=200, inplace=False)"),
        Case("filter_genes", "filter", False, _filter("filter_genes", min_cells=3),
             label="filter_genes(min_cells=3, inplace=False)"),
        Case("normalize_total", "normalize", False, _normalize(target_sum=1e4),
             label="normalize_total(target_sum=1e4), in place"),
        Case("normalize_total_median", "normalize", False, _normalize(),
             label="normalize_total() (target_sum: the median total), in place"),
        Case("regress_out", "regress", True, _regress_out, needs_batch=True,
             label="regress_out('batch'): a categorical key, 4 batches"),
        Case("regress_out_continuous", "regress", True, _regress_out_continuous,
             label="regress_out(['total', 'n_genes']): two continuous keys"),
        Case("scale", "scale", True, _scale,
             label="scale(max_value=10): all genes, zero-centred (a dense float64 result)"),
        Case("morans_i", "metrics", True, _metric("morans_i"), prepare=_with_graph,
             label="metrics.morans_i of 2,000 genes, 15-neighbour graph"),
        Case("gearys_c", "metrics", True, _metric("gearys_c"), prepare=_with_graph,
             label="metrics.gearys_c of 2,000 genes, 15-neighbour graph"),
        Case("scale_no_center", "scale", True, _scale_no_center,
             label="scale(zero_center=False, max_value=10), in place"),
        Case("aggregate_count_nonzero", "aggregate", True, _aggregate("count_nonzero"),
             needs_group=True, label="get.aggregate(by=group, func='count_nonzero')"),
        Case("aggregate_mean_count", "aggregate", True, _aggregate("mean", "count_nonzero"),
             needs_group=True, label="get.aggregate(by=group, func=['mean', 'count_nonzero'])"),
        Case("aggregate_var", "aggregate", True, _aggregate("mean", "var"),
             needs_group=True, label="get.aggregate(by=group, func=['mean', 'var'])"),
        Case("aggregate_median", "aggregate", True, _aggregate("median"),
             needs_group=True, label="get.aggregate(by=group, func='median')"),
    )
}
