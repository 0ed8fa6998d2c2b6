"""Benchmark inputs: fixed-seed negative-binomial count matrices and the shared real data.

Dataset names (``spec``):

- ``XS`` 2,000 x 1,000, ``S`` 10,000 x 5,000, ``M`` 50,000 x 20,000 (generated, ~7%
  density), or any ``<cells>x<genes>`` such as ``20000x5000`` (also generated).
- ``kang8684``, ``kang1556``, ``harmony2000``, ``10x10k``: the real count matrices of
  ``../shared/data/`` (relative to the repository root; see its README).

Every dataset comes as raw counts or log-normalised (``normalize_total`` to 1e4, then
``log1p``), float32, CSR or CSC, with ``obs["group"]`` (labels for
``rank_genes_groups``) and ``obs["batch"]`` (for ``batch_key``) where known.
Generated matrices are cached as ``.npz`` under ``build/bench-data/`` (written
atomically), so only the first run pays for the generation (~30 s for ``M``).

Only numpy and scipy are needed to generate and load arrays; :func:`load_adata`
also needs anndata and pandas (any environment that has scanpy has them).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("SCANPY_BENCH_DATA", ROOT / "build" / "bench-data"))
SHARED = ROOT.parent / "shared" / "data"

#: bump when the generator changes: cached files carry it in their name
GEN_VERSION = 1
DENSITY = 0.07
SEED = 0
N_GROUPS = 8
N_BATCHES = 4
_CHUNK = 4096  # rows per generation chunk (each chunk has its own spawned seed)

SIZES: dict[str, tuple[int, int]] = {
    "XS": (2_000, 1_000),
    "S": (10_000, 5_000),
    "M": (50_000, 20_000),
}

#: real matrices: file name, obs column used as groups, obs column used as batches
REAL: dict[str, tuple[str, str | None, str | None]] = {
    "kang8684": ("kang_muscat_8684x2511_counts.h5ad", "cluster_id", "sample_id"),
    "kang1556": ("kang_muscat_example_1556x1267_counts.h5ad", "cluster_id", "sample_id"),
    "harmony2000": ("kang_harmony_2000x9015_counts.h5ad", "condition", None),
    "10x10k": ("scanpy_10x10k_subset_10000x1000_counts.h5ad", None, None),
}


@dataclass
class Dataset:
    """A count matrix (CSR, float32, canonical) and its integer labels."""

    name: str
    counts: sp.csr_matrix
    group: np.ndarray | None  # int codes, or None when the data has no labels
    group_names: list[str] | None
    batch: np.ndarray | None
    batch_names: list[str] | None

    @property
    def shape(self) -> tuple[int, int]:
        return self.counts.shape

    @property
    def density(self) -> float:
        n, m = self.counts.shape
        return self.counts.nnz / (n * m)


def shape_of(spec: str) -> tuple[int, int] | None:
    """``(cells, genes)`` of a generated spec, None for a real dataset."""
    if spec in SIZES:
        return SIZES[spec]
    m = re.fullmatch(r"(\d+)x(\d+)", spec)
    return (int(m.group(1)), int(m.group(2))) if m else None


def is_known(spec: str) -> bool:
    return spec in REAL or shape_of(spec) is not None


# --- generation ------------------------------------------------------------------------


def _draws_for_distinct(q: np.ndarray, target: float) -> float:
    """Draws ``k`` (with replacement, probabilities ``q``) giving ``target`` distinct genes."""
    lo, hi = target, 50.0 * target
    for _ in range(60):
        k = 0.5 * (lo + hi)
        distinct = np.sum(-np.expm1(k * np.log1p(-np.minimum(q, 1 - 1e-12))))
        lo, hi = (k, hi) if distinct < target else (lo, k)
    return 0.5 * (lo + hi)


def generate_counts(
    n_cells: int,
    n_genes: int,
    *,
    density: float = DENSITY,
    seed: int = SEED,
    n_groups: int = N_GROUPS,
    n_batches: int = N_BATCHES,
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Negative-binomial UMI-like counts: ``(X csr float32, group codes, batch codes)``.

    Genes have log-normal detection rates and means, per-gene NB dispersions and a
    few marker genes per group (3-fold up); cells have log-normal size factors.  Each
    row's nonzero genes are drawn by weight (duplicates merged), their values are
    ``1 + NB(mean, r)``, so the matrix is canonical (sorted, no explicit zeros) and
    its density is close to ``density``.  Deterministic for a given argument set.
    """
    root = np.random.SeedSequence([seed, n_cells, n_genes, round(density * 1e6)])
    g_seq, *chunk_seqs = root.spawn(1 + -(-n_cells // _CHUNK))
    rng = np.random.default_rng(g_seq)
    w = rng.lognormal(0.0, 1.2, n_genes)
    mean = 0.6 * (w / w.mean()) ** 0.8  # expression level follows detection
    r = rng.gamma(2.0, 1.0, n_genes) + 0.2  # NB size (1 / dispersion)
    sizes = 1.0 / np.arange(1, n_groups + 1) ** 0.6
    group = rng.choice(n_groups, n_cells, p=sizes / sizes.sum()).astype(np.int64)
    batch = rng.integers(0, n_batches, n_cells).astype(np.int64)
    cell = rng.lognormal(0.0, 0.35, n_cells)
    cell /= cell.mean()
    fold = np.ones((n_groups, n_genes))
    n_mark = max(1, n_genes // 50)
    for g in range(n_groups):
        fold[g, rng.choice(n_genes, n_mark, replace=False)] = 3.0
    cum = np.cumsum(w[None, :] * fold, axis=1)  # per-group detection weights
    per_row = _draws_for_distinct(w / w.sum(), density * n_genes)

    indptr = np.zeros(n_cells + 1, np.int64)
    idx_parts, val_parts = [], []
    for c, seq in enumerate(chunk_seqs):
        crng = np.random.default_rng(seq)
        r0, r1 = c * _CHUNK, min(n_cells, (c + 1) * _CHUNK)
        rows = np.arange(r0, r1)
        k = np.minimum(crng.poisson(per_row * cell[rows]), 8 * n_genes)
        keys = []
        for g in range(n_groups):
            sel = group[rows] == g
            kg = k[sel]
            u = crng.random(int(kg.sum())) * cum[g, -1]
            cols = np.minimum(np.searchsorted(cum[g], u, side="right"), n_genes - 1)
            keys.append(np.repeat(rows[sel], kg) * n_genes + cols)
        key = np.unique(np.concatenate(keys))
        row, col = np.divmod(key, n_genes)
        mu = mean[col] * cell[row] * fold[group[row], col]
        p = r[col] / (r[col] + mu)
        val = (1 + crng.negative_binomial(r[col], p)).astype(np.float32)
        indptr[r0 + 1 : r1 + 1] = np.bincount(row - r0, minlength=r1 - r0)
        idx_parts.append(col.astype(np.int32))
        val_parts.append(val)
    np.cumsum(indptr, out=indptr)
    x = sp.csr_matrix(
        (np.concatenate(val_parts), np.concatenate(idx_parts), indptr.astype(np.int32)),
        shape=(n_cells, n_genes),
    )
    x.has_sorted_indices = True
    return x, group, batch


def lognormalize(x: sp.csr_matrix, target_sum: float = 1e4) -> sp.csr_matrix:
    """``normalize_total(target_sum)`` then ``log1p``, float32, same sparsity pattern."""
    sums = np.asarray(x.sum(axis=1), dtype=np.float64).ravel()
    scale = np.divide(target_sum, sums, out=np.zeros_like(sums), where=sums > 0)
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    data = np.log1p(x.data * scale[rows].astype(np.float32)).astype(np.float32)
    out = sp.csr_matrix((data, x.indices, x.indptr), shape=x.shape)
    out.has_sorted_indices = True
    return out


# --- cache -------------------------------------------------------------------------------


def _save(path: Path, **arrays: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _cache_name(spec: str) -> str:
    n, m = shape_of(spec)  # type: ignore[misc]
    return f"nb_{n}x{m}_d{round(DENSITY * 1000)}_s{SEED}_v{GEN_VERSION}"


def load_dataset(spec: str) -> Dataset:
    """The raw-count dataset ``spec`` (generated and cached on first use)."""
    if spec in REAL:
        return _load_real(spec)
    shape = shape_of(spec)
    if shape is None:
        msg = f"unknown dataset {spec!r}: use {sorted(SIZES)}, <cells>x<genes> or {sorted(REAL)}"
        raise ValueError(msg)
    path = CACHE / f"{_cache_name(spec)}.npz"
    if not path.exists():
        x, group, batch = generate_counts(*shape)
        _save(path, data=x.data, indices=x.indices, indptr=x.indptr,
              shape=np.array(x.shape), group=group, batch=batch)
    with np.load(path) as f:
        x = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
        group, batch = f["group"], f["batch"]
    x.has_sorted_indices = True
    gnames = [f"g{i}" for i in range(int(group.max()) + 1)]
    bnames = [f"b{i}" for i in range(int(batch.max()) + 1)]
    return Dataset(spec, x, group, gnames, batch, bnames)


def _load_real(spec: str) -> Dataset:
    import anndata as ad

    fname, gkey, bkey = REAL[spec]
    path = SHARED / fname
    if not path.exists():
        msg = f"{path} not found (the shared real data live in ../shared/data/)"
        raise FileNotFoundError(msg)
    a = ad.read_h5ad(path)
    x = sp.csr_matrix(a.X, dtype=np.float32)

    def codes(key: str | None) -> tuple[np.ndarray | None, list[str] | None]:
        if key is None:
            return None, None
        cat = a.obs[key].astype("category")
        return cat.cat.codes.to_numpy().astype(np.int64), [str(c) for c in cat.cat.categories]

    return Dataset(spec, x, *codes(gkey), *codes(bkey))


def matrix(spec: str, *, log1p: bool = False, fmt: str = "csr") -> sp.spmatrix:
    """The float32 matrix of ``spec``: counts or log-normalised, CSR or CSC (cached)."""
    ds = load_dataset(spec)
    x = ds.counts
    if not log1p and fmt == "csr":
        return x
    if shape_of(spec) is None:  # real data: small, not cached
        x = lognormalize(x) if log1p else x
        return x.tocsc() if fmt == "csc" else x
    path = CACHE / f"{_cache_name(spec)}_{'log' if log1p else 'counts'}_{fmt}.npz"
    if not path.exists():
        y = lognormalize(x) if log1p else x
        y = y.tocsc() if fmt == "csc" else y
        y.sort_indices()
        _save(path, data=y.data, indices=y.indices, indptr=y.indptr)
    with np.load(path) as f:
        cls = sp.csc_matrix if fmt == "csc" else sp.csr_matrix
        y = cls((f["data"], f["indices"], f["indptr"]), shape=x.shape)
    y.has_sorted_indices = True
    return y


def load_adata(spec: str, *, log1p: bool = False, fmt: str = "csr"):
    """An AnnData of ``spec`` with ``obs["group"]`` / ``obs["batch"]`` where labelled."""
    import anndata as ad
    import pandas as pd

    ds = load_dataset(spec)
    x = matrix(spec, log1p=log1p, fmt=fmt)
    obs = pd.DataFrame(index=[f"c{i}" for i in range(x.shape[0])])
    for key, codes, names in (("group", ds.group, ds.group_names), ("batch", ds.batch, ds.batch_names)):
        if codes is not None:
            obs[key] = pd.Categorical.from_codes(codes, categories=names)
    var = pd.DataFrame(index=[f"gene{j}" for j in range(x.shape[1])])
    adata = ad.AnnData(x, obs=obs, var=var)
    if log1p:
        adata.uns["log1p"] = {"base": None}
    return adata


def main() -> None:
    """``python benchmarks/_data.py S M``: generate (and cache) datasets, print a summary."""
    import sys
    import time

    for spec in sys.argv[1:] or ["S"]:
        t0 = time.perf_counter()
        ds = load_dataset(spec)
        for log1p in (False, True):
            for fmt in ("csr", "csc"):
                matrix(spec, log1p=log1p, fmt=fmt)
        n, m = ds.shape
        print(f"{spec}: {n} x {m}, nnz {ds.counts.nnz:,} ({ds.density:.2%}), "
              f"max {ds.counts.data.max():.0f}, {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
