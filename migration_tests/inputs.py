"""Input specifications of the migration cases and their deterministic builders.

Inputs are built with numpy/scipy/pandas/anndata only, never with scanpy, so the
pristine and the patched environment see bit-identical inputs whatever the series
changes in scanpy.

* :class:`Generated`: fixed-seed negative-binomial counts with all-zero genes and
  all-zero cells, optionally log1p-normalized, in CSR/CSC/dense, float32/float64,
  int32/int64 sparse indices, optionally non-canonical (unsorted indices, explicit
  zeros), with ``obs`` columns for batches and groups.
* :class:`Real`: a real count matrix from ``../shared/data`` (see
  ``/work/shared/data/README.md``), optionally converted the same ways.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from scipy import sparse

if TYPE_CHECKING:
    from anndata import AnnData
    from numpy.typing import NDArray

type Fmt = Literal["csr", "csc", "dense", "csr_array", "csc_array"]
type Values = Literal["counts", "log1p"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "SCANPY_KERNELS_DATA"


def data_dir() -> Path:
    return Path(os.environ.get(DATA_ENV, REPO_ROOT.parent / "shared" / "data"))


class InputUnavailable(Exception):
    """The input cannot be built here (e.g. the real data directory is missing)."""


@dataclass(frozen=True)
class Layout:
    """How the matrices of an input are stored."""

    fmt: Fmt = "csr"
    dtype: Literal["float32", "float64", "int64"] = "float32"  # int64: counts only
    index_dtype: Literal["int32", "int64"] = "int32"
    noncanonical: bool = False  # unsorted indices + explicit zeros (sparse only)
    fortran: bool = False  # column-major (dense only)
    duplicates: bool = False  # some entries stored twice, as two halves (sparse only)

    @property
    def tag(self) -> str:
        t = f"{self.fmt}-{self.dtype.replace('float', 'f')}"
        if self.fmt != "dense":
            t += f"-{self.index_dtype.replace('int', 'i')}"
        t += "-noncanon" if self.noncanonical else ""
        return t + ("-dup" if self.duplicates else "") + ("-F" if self.fortran else "")


@dataclass(frozen=True)
class Generated:
    n_obs: int
    n_vars: int
    density: float
    seed: int
    layout: Layout = Layout()
    values: Values = "counts"
    # extra layers and .raw, each holding `counts` or `log1p` of the same cells
    layers: tuple[tuple[str, Values], ...] = ()
    raw: Values | None = None
    # log1p values divided by log(base), and uns["log1p"]["base"] = base (sc.pp.log1p(base=))
    log1p_base: float | None = None
    # rank_genes_groups edge cases (see `rgg_edge_genes`): adversarial genes and a
    # numeric obs column `score`; `nan` also puts NaNs in a few genes
    edges: bool = False
    nan: bool = False
    # a cell graph (`add_cell_graph`): obsp, uns["neighbors"], obsm["X_pca"] (metrics)
    graph: bool = False

    @property
    def tag(self) -> str:
        extra = "".join(f"+L{n}" for n, _ in self.layers) + ("+raw" if self.raw else "")
        extra += f"+base{self.log1p_base:g}" if self.log1p_base is not None else ""
        extra += ("+edges" if self.edges else "") + ("+nan" if self.nan else "")
        extra += "+graph" if self.graph else ""
        return (
            f"gen{self.n_obs}x{self.n_vars}d{int(self.density * 100)}s{self.seed}-"
            f"{self.values}-{self.layout.tag}{extra}"
        )


@dataclass(frozen=True)
class Real:
    file: str
    layout: Layout = Layout()
    values: Values = "counts"
    layers: tuple[tuple[str, Values], ...] = ()
    raw: Values | None = None
    # numeric obs columns from the counts: total_counts, n_genes (regress_out's keys)
    covariates: bool = False
    graph: bool = False

    @property
    def tag(self) -> str:
        stem = self.file.removesuffix(".h5ad").removesuffix("_counts")
        extra = "".join(f"+L{n}" for n, _ in self.layers) + ("+raw" if self.raw else "")
        extra += "+cov" if self.covariates else ""
        extra += "+graph" if self.graph else ""
        return f"{stem}-{self.values}-{self.layout.tag}{extra}"


type InputSpec = Generated | Real

# --- generation -------------------------------------------------------------------

N_ZERO_GENES = 3
N_ZERO_CELLS = 2
GROUP_NAMES = ("A", "B", "C", "D")
GROUP_WEIGHTS = (0.4, 0.3, 0.2, 0.1)
BATCH_NAMES = ("b0", "b1", "b2")


def nb_counts(n_obs: int, n_vars: int, density: float, seed: int) -> NDArray[np.float64]:
    """Negative-binomial counts whose fraction of non-zeros is about ``density``.

    Genes get log-normal means and a shared dispersion; groups (see
    :func:`_obs`) shift the means of a few genes so the DE tests find something.
    The first ``N_ZERO_GENES`` genes and the last ``N_ZERO_CELLS`` cells are zero.
    """
    rng = np.random.default_rng(seed)
    gene_mu = rng.lognormal(mean=0.0, sigma=1.2, size=n_vars)
    # P(count > 0) for NB(r, p) with mean mu: 1 - (r / (r + mu))**r; pick a scale
    # so that the average non-zero fraction matches `density`
    r = 2.0
    lo, hi = 1e-6, 1e6
    for _ in range(80):
        mid = np.sqrt(lo * hi)
        nz = 1 - (r / (r + gene_mu * mid)) ** r
        lo, hi = (mid, hi) if nz.mean() < density else (lo, mid)
    mu = gene_mu * np.sqrt(lo * hi)
    groups = _group_codes(n_obs, seed)
    effect = np.ones((len(GROUP_NAMES), n_vars))
    for g in range(len(GROUP_NAMES)):
        de = rng.choice(n_vars, size=max(1, n_vars // 20), replace=False)
        effect[g, de] = rng.uniform(2.0, 6.0, size=de.size)
    cell_mu = mu[None, :] * effect[groups] * rng.lognormal(0, 0.3, size=(n_obs, 1))
    counts = rng.negative_binomial(r, r / (r + cell_mu)).astype(np.float64)
    counts[:, :N_ZERO_GENES] = 0
    counts[n_obs - N_ZERO_CELLS :, :] = 0
    return counts


def _group_codes(n_obs: int, seed: int) -> NDArray[np.intp]:
    rng = np.random.default_rng(seed + 1)
    return rng.choice(len(GROUP_NAMES), size=n_obs, p=GROUP_WEIGHTS)


def _obs(n_obs: int, seed: int) -> pd.DataFrame:
    """Batch and group labels.

    ``batch``; ``batch_unsorted``, the same as a categorical whose categories are not
    in sorted order and include an unused one; ``batch_labels``, the same as plain
    strings (not categorical); ``group``; ``group_small`` (with a 2-cell and a 1-cell
    group).
    """
    rng = np.random.default_rng(seed + 2)
    group = np.array(GROUP_NAMES)[_group_codes(n_obs, seed)]
    small = group.astype(object).copy()
    small[:2] = "pair"
    small[2] = "single"
    batch = rng.choice(BATCH_NAMES, size=n_obs)
    unsorted = ("unused", *reversed(BATCH_NAMES))
    return pd.DataFrame(
        {
            "batch": pd.Categorical(batch),
            "batch_unsorted": pd.Categorical(batch, categories=unsorted),
            "batch_labels": batch.astype(object),
            "group": pd.Categorical(group, categories=GROUP_NAMES),
            "group_small": pd.Categorical(small),
        },
        index=pd.Index([f"cell{i}" for i in range(n_obs)]),
    )


def log1p_normalize(x: NDArray[np.float64], target: float = 1e4) -> NDArray[np.float64]:
    """``log1p(x / rowsum * target)`` with all-zero rows kept at zero."""
    totals = x.sum(axis=1, keepdims=True)
    scale = np.divide(target, totals, out=np.zeros_like(totals), where=totals > 0)
    return np.log1p(x * scale)


# --- layout -----------------------------------------------------------------------


def _noncanonical(m: sparse.csr_matrix | sparse.csc_matrix, seed: int):
    """Same values, but reversed index order per row/column and explicit zeros."""
    m = m.copy()
    rng = np.random.default_rng(seed + 3)
    indptr, indices, data = m.indptr, m.indices.copy(), m.data.copy()
    for i in range(len(indptr) - 1):
        s, e = indptr[i], indptr[i + 1]
        indices[s:e] = indices[s:e][::-1]
        data[s:e] = data[s:e][::-1]
    # explicit zeros: zero out ~2% of the stored entries (keeps the structure)
    data[rng.random(data.size) < 0.02] = 0
    out = type(m)((data, indices, indptr), shape=m.shape)
    out.has_sorted_indices = False
    return out


def _duplicated(m: sparse.csr_matrix | sparse.csc_matrix, seed: int):
    """Same values, but ~5% of the stored entries stored twice, each time half the value.

    Halving a float is exact, so scipy's ``sum_duplicates()`` gives the values back;
    integer counts are split as ``v // 2`` and ``v - v // 2``.  Each row (column)
    keeps its entries in order, a duplicate right after its first half.
    """
    rng = np.random.default_rng(seed + 4)
    twice = rng.random(m.nnz) < 0.05
    first = m.data // 2 if m.dtype.kind in "iu" else m.data / 2
    first = np.where(twice, first, m.data)
    data = np.stack([first, m.data - first], axis=1)  # (first, rest) per entry
    keep = np.stack([np.ones(m.nnz, bool), twice], axis=1)
    indices = np.repeat(m.indices, 2)[keep.ravel()]
    before = np.concatenate([[0], np.cumsum(twice)])  # duplicates before each entry
    indptr = m.indptr + before[m.indptr]
    out = type(m)((data.ravel()[keep.ravel()], indices, indptr), shape=m.shape)
    out.has_canonical_format = False
    return out


def apply_layout(x: NDArray[np.float64], layout: Layout, seed: int):
    dense = x.astype(layout.dtype)
    if layout.fmt == "dense":
        return np.asfortranarray(dense) if layout.fortran else np.ascontiguousarray(dense)
    cls = {
        "csr": sparse.csr_matrix,
        "csc": sparse.csc_matrix,
        "csc_array": sparse.csc_array,
    }.get(layout.fmt, sparse.csr_array)
    m = cls(dense)
    m.sort_indices()
    if layout.noncanonical:
        m = _noncanonical(m, seed)
    if layout.duplicates:
        m = _duplicated(m, seed)
    idx = np.dtype(layout.index_dtype)
    m.indices = m.indices.astype(idx)
    m.indptr = m.indptr.astype(idx)
    return m


def _values(
    counts: NDArray[np.float64], values: Values, base: float | None = None
) -> NDArray[np.float64]:
    if values == "counts":
        return counts
    x = log1p_normalize(counts)
    return x if base is None else x / np.log(base)


def _assemble(
    counts: NDArray[np.float64],
    obs: pd.DataFrame,
    var_names: pd.Index,
    spec: InputSpec,
    seed: int,
) -> AnnData:
    from anndata import AnnData

    base = getattr(spec, "log1p_base", None)
    adata = AnnData(
        X=apply_layout(_values(counts, spec.values, base), spec.layout, seed),
        obs=obs,
        var=pd.DataFrame(index=var_names),
    )
    for name, vals in spec.layers:
        adata.layers[name] = apply_layout(_values(counts, vals, base), spec.layout, seed)
    if spec.raw is not None:
        adata.raw = AnnData(
            X=apply_layout(_values(counts, spec.raw, base), spec.layout, seed),
            obs=obs,
            var=pd.DataFrame(index=var_names),
        )
    if "log1p" in {spec.values, spec.raw, *(v for _, v in spec.layers)}:
        adata.uns["log1p"] = {"base": base}
    # a var column for `mask_var="expressed_mask"`: every gene except each 4th one
    adata.var["expressed_mask"] = np.arange(adata.n_vars) % 4 != 0
    if spec.graph:
        add_cell_graph(adata, seed)
    return adata


def add_cell_graph(adata: AnnData, seed: int, k: int = 15) -> None:
    """A kNN-like cell graph as `sc.pp.neighbors` stores it, and a float32 `X_pca`.

    ``k`` random neighbours per cell with random weights, symmetrized (float32, as
    scanpy's connectivities), in ``obsp["connectivities"]``/``["distances"]`` and
    ``uns["neighbors"]``, and as float64 in ``obsp["weights64"]``; ``obsm["X_pca"]``:
    12 random components, one constant; ``obs["pct"]``: a numeric column.
    """
    from scipy import sparse

    rng = np.random.default_rng(seed + 7)
    n = adata.n_obs
    rows = np.repeat(np.arange(n), k)
    g = sparse.csr_matrix((rng.random(n * k), (rows, rng.integers(0, n, n * k))), (n, n))
    g = ((g + g.T) * 0.5).astype(np.float32).tocsr()
    adata.obsp["connectivities"] = g
    adata.obsp["distances"] = g.copy()
    # float64 weights: their sum's last bits depend on the order it is taken in
    adata.obsp["weights64"] = (g.astype(np.float64) * np.pi).tocsr()
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {"method": "umap", "n_neighbors": k},
    }
    adata.obs["pct"] = rng.gamma(2.0, size=n)  # one-dimensional `vals`
    pca = rng.normal(size=(n, 12)).astype(np.float32)
    pca[:, 5] = 1.0  # constant: NaN and a warning in both metrics
    adata.obsm["X_pca"] = pca


@cache
def _real_counts(file: str) -> tuple[NDArray[np.float64], pd.DataFrame, pd.Index]:
    import anndata as ad

    path = data_dir() / file
    if not path.exists():
        msg = (
            f"real data {path} is missing (set {DATA_ENV} or provide ../shared/data "
            "next to the repository)"
        )
        raise InputUnavailable(msg)
    a = ad.read_h5ad(path)
    x = a.X.toarray() if sparse.issparse(a.X) else np.asarray(a.X)
    obs = a.obs.copy()
    for col in obs.columns:
        if obs[col].dtype == object or isinstance(obs[col].dtype, pd.StringDtype):
            obs[col] = pd.Categorical(obs[col].astype(str))
    return x.astype(np.float64), obs, a.var_names.copy()


def rgg_edge_genes(
    x: NDArray[np.float64], obs: pd.DataFrame, *, nan: bool, seed: int
) -> NDArray[np.float64]:
    """``x`` (cells x genes values) with the genes after the all-zero ones made adversarial.

    For rank_genes_groups: every cell tied, all zero in some groups, nonzero in one
    group only, heavy ties, constant inside one group, the 2-cell group tied, and
    negative values (zeros rank in the middle; some group means are negative, so
    fold changes take the log of a negative ratio). With ``nan``: one NaN in a gene,
    NaNs in one group only of another, one NaN in a third gene, and NaNs in ~15% of
    the cells of two more (every group: there the order of the NaNs among themselves,
    scanpy's unstable sort's, changes the rank sums).
    """
    x = x.copy()
    group = obs["group"].to_numpy()
    g = N_ZERO_GENES
    # the most expressed genes after the edited ones give the values to edit
    s0, s1, s2, s3 = g + 10 + np.argsort(-np.count_nonzero(x[:, g + 10 :], axis=0))[:4]
    x[:, g] = 1.5
    x[:, g + 1] = np.where(np.isin(group, ["A", "C"]), 0.0, x[:, s0])
    x[:, g + 2] = np.where(group == "D", x[:, s1], 0.0)
    x[:, g + 3] = np.round(x[:, s2] * 2) / 2
    x[:, g + 4] = np.where(group == "B", 0.7, 0.0)
    x[obs["group_small"].to_numpy() == "pair", g + 5] = 2.0
    v = x[:, s3]
    x[:, g + 6] = np.where(v != 0, v - np.median(v[v != 0]), 0.0)  # both signs
    if nan:
        rng = np.random.default_rng(seed + 5)
        x[rng.integers(x.shape[0]), g + 7] = np.nan
        x[np.flatnonzero(group == "A")[:3], g + 8] = np.nan
        x[np.flatnonzero(group == "C")[0], g + 9] = np.nan
        x[rng.random(x.shape[0]) < 0.15, g + 10] = np.nan
        x[:, g + 11] = np.where(rng.random(x.shape[0]) < 0.15, np.nan, x[:, g + 3])
    return x


def _with_edges(adata: AnnData, spec: Generated) -> AnnData:
    """Apply :func:`rgg_edge_genes` to every matrix of ``adata``; add ``obs["score"]``."""
    from anndata import AnnData

    def edit(m: object) -> object:
        dense = m.toarray() if sparse.issparse(m) else np.asarray(m)
        x = rgg_edge_genes(dense.astype(np.float64), adata.obs, nan=spec.nan, seed=spec.seed)
        return apply_layout(x, spec.layout, spec.seed)

    adata.X = edit(adata.X)
    for name in list(adata.layers.keys()):
        if name is not None:
            adata.layers[name] = edit(adata.layers[name])
    if adata.raw is not None:
        raw_var = adata.raw.var.copy()
        adata.raw = AnnData(X=edit(adata.raw.X), obs=adata.obs.copy(), var=raw_var)
    rng = np.random.default_rng(spec.seed + 6)
    adata.obs["score"] = rng.normal(size=adata.n_obs)  # not categorical
    adata.obs["score2"] = rng.gamma(2.0, size=adata.n_obs)
    return adata


def build(spec: InputSpec) -> AnnData:
    """A fresh AnnData for ``spec`` (deterministic; new arrays on every call)."""
    if isinstance(spec, Generated):
        counts = nb_counts(spec.n_obs, spec.n_vars, spec.density, spec.seed)
        obs = _obs(spec.n_obs, spec.seed)
        var_names = pd.Index([f"gene{i}" for i in range(spec.n_vars)])
        adata = _assemble(counts, obs, var_names, spec, spec.seed)
        return _with_edges(adata, spec) if spec.edges or spec.nan else adata
    counts, obs, var_names = _real_counts(spec.file)
    obs = obs.copy()
    if spec.covariates:
        obs["total_counts"] = counts.sum(axis=1)
        obs["n_genes"] = np.count_nonzero(counts, axis=1).astype(np.float64)
    return _assemble(counts, obs, var_names.copy(), spec, 0)
