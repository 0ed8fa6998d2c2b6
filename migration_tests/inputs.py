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

type Fmt = Literal["csr", "csc", "dense", "csr_array"]
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
    dtype: Literal["float32", "float64"] = "float32"
    index_dtype: Literal["int32", "int64"] = "int32"
    noncanonical: bool = False  # unsorted indices + explicit zeros (sparse only)

    @property
    def tag(self) -> str:
        t = f"{self.fmt}-{self.dtype.replace('float', 'f')}"
        if self.fmt != "dense":
            t += f"-{self.index_dtype.replace('int', 'i')}"
        return t + ("-noncanon" if self.noncanonical else "")


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

    @property
    def tag(self) -> str:
        extra = "".join(f"+L{n}" for n, _ in self.layers) + ("+raw" if self.raw else "")
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

    @property
    def tag(self) -> str:
        stem = self.file.removesuffix(".h5ad").removesuffix("_counts")
        extra = "".join(f"+L{n}" for n, _ in self.layers) + ("+raw" if self.raw else "")
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
    """``batch``, ``group`` and ``group_small`` (with a 2-cell and a 1-cell group)."""
    rng = np.random.default_rng(seed + 2)
    group = np.array(GROUP_NAMES)[_group_codes(n_obs, seed)]
    small = group.astype(object).copy()
    small[:2] = "pair"
    small[2] = "single"
    return pd.DataFrame(
        {
            "batch": pd.Categorical(rng.choice(BATCH_NAMES, size=n_obs)),
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


def apply_layout(x: NDArray[np.float64], layout: Layout, seed: int):
    dense = x.astype(layout.dtype)
    if layout.fmt == "dense":
        return np.ascontiguousarray(dense)
    cls = {"csr": sparse.csr_matrix, "csc": sparse.csc_matrix}.get(layout.fmt, sparse.csr_array)
    m = cls(dense)
    m.sort_indices()
    if layout.noncanonical:
        m = _noncanonical(m, seed)
    idx = np.dtype(layout.index_dtype)
    m.indices = m.indices.astype(idx)
    m.indptr = m.indptr.astype(idx)
    return m


def _values(counts: NDArray[np.float64], values: Values) -> NDArray[np.float64]:
    return counts if values == "counts" else log1p_normalize(counts)


def _assemble(
    counts: NDArray[np.float64],
    obs: pd.DataFrame,
    var_names: pd.Index,
    spec: InputSpec,
    seed: int,
) -> AnnData:
    from anndata import AnnData

    adata = AnnData(
        X=apply_layout(_values(counts, spec.values), spec.layout, seed),
        obs=obs,
        var=pd.DataFrame(index=var_names),
    )
    for name, vals in spec.layers:
        adata.layers[name] = apply_layout(_values(counts, vals), spec.layout, seed)
    if spec.raw is not None:
        adata.raw = AnnData(
            X=apply_layout(_values(counts, spec.raw), spec.layout, seed),
            obs=obs,
            var=pd.DataFrame(index=var_names),
        )
    if "log1p" in {spec.values, spec.raw, *(v for _, v in spec.layers)}:
        adata.uns["log1p"] = {"base": None}
    # a var column for `mask_var="expressed_mask"`: every gene except each 4th one
    adata.var["expressed_mask"] = np.arange(adata.n_vars) % 4 != 0
    return adata


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


def build(spec: InputSpec) -> AnnData:
    """A fresh AnnData for ``spec`` (deterministic; new arrays on every call)."""
    if isinstance(spec, Generated):
        counts = nb_counts(spec.n_obs, spec.n_vars, spec.density, spec.seed)
        obs = _obs(spec.n_obs, spec.seed)
        var_names = pd.Index([f"gene{i}" for i in range(spec.n_vars)])
        return _assemble(counts, obs, var_names, spec, spec.seed)
    counts, obs, var_names = _real_counts(spec.file)
    return _assemble(counts, obs.copy(), var_names.copy(), spec, 0)
