"""rank_genes_groups kernels against pristine scanpy 1.12.4, computed in the same test.

Every comparison is exact (``assert_array_equal``, NaN == NaN): the kernels reproduce
scanpy's arithmetic operation for operation.  ``run_kernels`` is the array-level glue
a frontend needs, through the drivers (``benchmarks/kernels_rgg.py`` keeps a CSR-only
copy: benchmarks import nothing from tests/).
"""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest
from scipy import sparse, stats

from scanpy_kernels import as_matrix
from scanpy_kernels._sort import (
    HIST_SIZE,
    entry_key,
    entry_slot,
    key_params,
    put,
    radix_sort,
    slot_room,
)
from scanpy_kernels.aggregate import group_sums_csc, group_sums_csr, group_sums_dense
from scanpy_kernels.rank_genes_groups import (
    group_mean_var,
    group_means,
    ranksums,
    ranksums_csc,
    ranksums_csr,
    ranksums_dense,
    rest_mean_pts,
    rest_var,
)
from scanpy_kernels.rank_genes_groups.drivers import wilcoxon_zscores
from scanpy_kernels.toolkit import matrix_signatures, thread_limit

# --------------------------------------------------------------------------- glue


def _call(kernels, x, codes, n_groups, *params):
    """One kernel of a family, for the matrix's format: the one calling convention."""
    m = as_matrix(x)
    return kernels[m.fmt](*m.args, codes, n_groups, *params)


SUMS = {"csr": group_sums_csr, "csc": group_sums_csc, "dense": group_sums_dense}
RANKSUMS = {"csr": ranksums_csr, "csc": ranksums_csc, "dense": ranksums_dense}


def run_kernels(x, codes, n_groups, *, ref=-1, method="wilcoxon", tie_correct=False, pts=True):
    """Everything ``_RankGenes`` computes, from the kernels (+ scipy for p-values).

    ``codes``: per cell, index into the selected groups or -1; ``ref``: index of the
    reference group or -1 for "rest".  Returns per-group arrays ``(n_groups, n_genes)``.
    """
    slots = np.where(codes < 0, n_groups, codes)
    sizes = np.bincount(slots, minlength=n_groups + 1).astype(np.int64)
    n_cells = x.shape[0]
    m = as_matrix(x)
    out = {}
    if method == "wilcoxon":
        mean, nnz = group_means(m, codes, n_groups)
        var = None
    else:
        mean, var, nnz = group_mean_var(m, codes, n_groups)
    out["means"] = mean[:n_groups]
    out["vars"] = None if var is None else var[:n_groups]
    if pts:
        out["pts"] = nnz[:n_groups] / sizes[:n_groups, None]
    if ref < 0:
        means_rest, pts_rest = rest_mean_pts(sizes, mean, nnz)
        out["means_rest"] = means_rest
        out["pts_rest"] = pts_rest if pts else None
        out["vars_rest"] = None if var is None else rest_var(sizes, mean, var)
        mean_other = means_rest
    else:
        mean_other = np.broadcast_to(mean[ref], mean[:n_groups].shape)

    if method == "wilcoxon":
        rank_sums, tie_sums = ranksums(m, codes, n_groups, ref)
        z = wilcoxon_zscores(rank_sums, tie_sums, sizes, ref, tie_correct=tie_correct)
        out["scores"] = z
        out["pvals"] = 2 * stats.distributions.norm.sf(np.abs(z))
    else:
        n_g = sizes[:n_groups, None]
        if ref < 0:
            m2, v2, n2 = out["means_rest"], out["vars_rest"], (n_cells - sizes[:n_groups])[:, None]
        else:
            m2, v2, n2 = mean[ref], var[ref], sizes[ref]
        if method == "t-test_overestim_var":
            n2 = n_g
        with np.errstate(invalid="ignore"):
            scores, pvals = stats.ttest_ind_from_stats(
                mean1=mean[:n_groups], std1=np.sqrt(var[:n_groups]), nobs1=n_g,
                mean2=m2, std2=np.sqrt(v2), nobs2=n2, equal_var=False,
            )
        scores[np.isnan(scores)] = 0
        pvals[np.isnan(pvals)] = 1
        out["scores"], out["pvals"] = scores, pvals
    with np.errstate(invalid="ignore", divide="ignore"):
        out["logfoldchanges"] = np.log2(
            (np.expm1(mean[:n_groups]) + 1e-9) / (np.expm1(mean_other) + 1e-9)
        )
    return out


# --------------------------------------------------------------------------- data

SIZES = {"g0": 2, "g1": 2, "g2": 3, "g3": 40, "g4": 60, "g5": 90, "g6": 140, "g7": 1}
N_GENES = 48


def _counts(rng, n_cells, n_genes):
    """Negative-binomial counts, gene means spanning ~0.05..20 (many zeros)."""
    mu = np.exp(rng.uniform(np.log(0.05), np.log(20), n_genes))
    r = 2.0
    return rng.negative_binomial(r, r / (r + mu), size=(n_cells, n_genes)).astype(np.float64)


def make_data(seed=0, *, negative=False, nan=False):
    """log1p-normalized counts with adversarial genes; obs groupings ``grp`` / ``grp_all``."""
    rng = np.random.default_rng(seed)
    labels = np.concatenate([[g] * n for g, n in SIZES.items()])
    rng.shuffle(labels)
    n_cells = labels.size
    x = _counts(rng, n_cells, N_GENES)
    x = np.log1p(x / np.maximum(x.sum(1, keepdims=True), 1) * 1e4)
    grp = pd.Categorical(labels, categories=list(SIZES))
    x[:, 0] = 0.0  # all zero
    x[:, 1] = 1.5  # one value everywhere: every cell tied
    x[np.isin(labels, ["g0", "g3"]), 2] = 0.0  # all zero in some groups
    x[labels != "g4", 3] = 0.0  # nonzero in one group only
    x[:, 4] = np.round(x[:, 4], 1)  # heavy ties
    x[:, 5] = np.where(labels == "g5", 0.7, 0.0)  # constant inside a group
    x[:, 6] = np.where(labels == "g0", 2.0, x[:, 6])  # group of 2, both tied
    if negative:
        x = np.where(x != 0, x - 1.0, 0.0)  # negatives, zeros in the middle of the order
    if nan:
        x[rng.integers(n_cells), 7] = np.nan  # one NaN in a gene
        x[np.flatnonzero(labels == "g3")[:3], 8] = np.nan  # NaNs in one group only
    all_labels = np.where(labels == "g7", "g6", labels)  # no singleton group
    obs = pd.DataFrame(
        {"grp": grp, "grp_all": pd.Categorical(all_labels, categories=list(SIZES)[:-1])},
        index=[f"c{i}" for i in range(n_cells)],
    )
    return x, obs


def as_format(x, fmt, dtype, index_dtype=np.int32):
    x = x.astype(dtype)
    if fmt == "dense":
        return np.ascontiguousarray(x)
    m = sparse.csr_matrix(x) if fmt == "csr" else sparse.csc_matrix(x)
    m.indices = m.indices.astype(index_dtype)
    m.indptr = m.indptr.astype(index_dtype)
    return m


# format x data dtype x index dtype: every dimension covered for every kernel family
# (codes are int64, the one rule); the other tests reuse these signatures (each one
# costs a compile)
CASES = [
    ("csr", np.float32, np.int32),
    ("csr", np.float64, np.int64),
    ("csc", np.float32, np.int64),
    ("csc", np.float64, np.int32),
    ("dense", np.float32, np.int64),
    ("dense", np.float64, np.int64),
]
CASE_IDS = [f"{f}-{np.dtype(d).name}-{np.dtype(i).name}" for f, d, i in CASES]

# (obs column, groups, reference)
SETUPS = [
    ("grp_all", "all", "rest"),
    ("grp", ["g0", "g1", "g3", "g5"], "rest"),  # remainder incl. a 1-cell group
    ("grp_all", "all", "g1"),  # reference of 2 cells
    ("grp", ["g0", "g3", "g5"], "g4"),  # reference added to a subset
]
SETUP_IDS = ["rest-all", "rest-subset", "ref-small", "ref-subset"]


def _pristine(x, obs, groupby, groups, reference):
    import anndata as ad
    from scanpy.tools._rank_genes_groups import _RankGenes

    if groups != "all" and reference != "rest" and reference not in groups:
        groups = [*groups, reference]
    adata = ad.AnnData(X=x.copy(), obs=obs.copy())
    return _RankGenes(adata, groups, groupby, reference=reference, use_raw=False, comp_pts=True)


def _codes(rg, obs, groupby):
    return pd.Index(rg.groups_order).get_indexer(obs[groupby]).astype(np.int64)


def _check(name, got, want):
    __tracebackhide__ = True
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=name, strict=False)


# ---------------------------------------------------------------- vs pristine


@pytest.mark.parametrize(("groupby", "groups", "reference"), SETUPS, ids=SETUP_IDS)
@pytest.mark.parametrize(("fmt", "dtype", "index_dtype"), CASES, ids=CASE_IDS)
def test_stats_match_pristine(fmt, dtype, index_dtype, groupby, groups, reference):
    """means / vars / means_rest / vars_rest / pts / pts_rest, both mean flavours."""
    x, obs = make_data(1)
    xm = as_format(x, fmt, dtype, index_dtype)
    for need_var in (False, True):
        rg = _pristine(xm, obs, groupby, groups, reference)
        rg._basic_stats(need_var=need_var)
        codes = _codes(rg, obs, groupby)
        ref = -1 if rg.ireference is None else int(rg.ireference)
        method = "t-test" if need_var else "wilcoxon"
        got = run_kernels(xm, codes, len(rg.groups_order), ref=ref, method=method)
        _check("means", got["means"], rg.means)
        _check("pts", got["pts"], rg.pts)
        if need_var:
            _check("vars", got["vars"], rg.vars)
        if ref < 0:
            _check("means_rest", got["means_rest"], rg.means_rest)
            _check("pts_rest", got["pts_rest"], rg.pts_rest)
            if need_var:
                _check("vars_rest", got["vars_rest"], rg.vars_rest)


def _compare_results(rg, got, ref):
    for g, name in enumerate(rg.groups_order):
        if g == ref:
            continue
        for field in ("scores", "pvals", "logfoldchanges"):
            _check(f"{name} {field}", got[field][g], rg.stats[str(name), field].to_numpy())


@pytest.mark.parametrize(("groupby", "groups", "reference"), SETUPS, ids=SETUP_IDS)
@pytest.mark.parametrize(("fmt", "dtype", "index_dtype"), CASES, ids=CASE_IDS)
def test_tests_match_pristine(fmt, dtype, index_dtype, groupby, groups, reference):
    """scores / pvals / logfoldchanges of wilcoxon (± tie correction) and both t-tests."""
    x, obs = make_data(2)
    xm = as_format(x, fmt, dtype, index_dtype)
    tests = [("wilcoxon", False), ("wilcoxon", True), ("t-test", False), ("t-test_overestim_var", False)]
    match_pristine_tests(xm, obs, (groupby, groups, reference), tests)


def match_pristine_tests(xm, obs, setup, tests):
    """Each ``(method, tie_correct)`` of ``tests``: pristine's results, bit for bit."""
    __tracebackhide__ = True
    groupby, groups, reference = setup
    for method, tie_correct in tests:
        rg = _pristine(xm, obs, groupby, groups, reference)
        rg.compute_statistics(method, tie_correct=tie_correct)
        ref = -1 if rg.ireference is None else int(rg.ireference)
        codes = _codes(rg, obs, groupby)
        got = run_kernels(xm, codes, len(rg.groups_order), ref=ref, method=method, tie_correct=tie_correct)
        _compare_results(rg, got, ref)


@pytest.mark.parametrize("fmt", ["csr", "dense"])
@pytest.mark.parametrize(("groupby", "groups", "reference"), SETUPS[::2], ids=SETUP_IDS[::2])
def test_negative_and_nan_match_pristine(fmt, groupby, groups, reference):
    """Negative values (zeros rank in the middle) and NaN (each NaN its own block, last)."""
    x, obs = make_data(3, negative=True, nan=True)
    xm = as_format(x, fmt, np.float64, np.int64)
    tests = [("wilcoxon", True), ("wilcoxon", False), ("t-test", False)]
    match_pristine_tests(xm, obs, (groupby, groups, reference), tests)


def test_explicit_zeros_are_implicit():
    """Stored zeros change nothing (scanpy calls ``eliminate_zeros`` first)."""
    x, _ = make_data(4)
    m = sparse.csr_matrix(x.astype(np.float32))
    z = m.copy()
    z.data[::7] = 0.0  # explicit zeros
    clean = z.copy()
    clean.eliminate_zeros()
    codes = np.random.default_rng(0).integers(-1, 5, x.shape[0]).astype(np.int64)
    mz, mc = as_matrix(z), as_matrix(clean)
    for driver, extra in [(group_means, ()), (group_mean_var, ()), (ranksums, (-1,)), (ranksums, (2,))]:
        for a, b in zip(driver(mz, codes, 5, *extra), driver(mc, codes, 5, *extra), strict=True):
            _check("explicit zeros", a, b)
    for a, b in zip(_call(SUMS, z, codes, 5), _call(SUMS, clean, codes, 5), strict=True):
        _check("explicit zeros (kernel)", a, b)


# ------------------------------------------------------ independent references


def _brute_ranksums(x, codes, n_groups, ref):
    """Rank sums and tie terms with scipy.stats.rankdata on dense columns."""
    n_genes = x.shape[1]
    rs = np.zeros((n_groups, n_genes))
    ts = np.zeros((n_groups, n_genes))
    for j in range(n_genes):
        col = x[:, j]
        if ref < 0:
            r = stats.rankdata(col)
            _, cnt = np.unique(col, return_counts=True)
            t = float(np.sum(cnt.astype(float) ** 3 - cnt))
            for g in range(n_groups):
                rs[g, j] = r[codes == g].sum()
                ts[g, j] = t
        else:
            for g in range(n_groups):
                if g == ref:
                    continue
                sel = (codes == g) | (codes == ref)
                r = stats.rankdata(col[sel])
                rs[g, j] = r[codes[sel] == g].sum()
                _, cnt = np.unique(col[sel], return_counts=True)
                ts[g, j] = float(np.sum(cnt.astype(float) ** 3 - cnt))
    return rs, ts


@pytest.mark.parametrize("ref", [-1, 0, 3])
@pytest.mark.parametrize("fmt", ["csr", "csc", "dense"])
def test_ranksums_vs_rankdata(fmt, ref):
    """Singleton and empty groups (scanpy refuses them), negatives, ties, long columns."""
    rng = np.random.default_rng(5)
    n_cells, n_genes, n_groups = 400, 30, 6
    x = np.round(rng.normal(size=(n_cells, n_genes)), 1)
    x[rng.random(x.shape) < 0.6] = 0.0
    x[:, 0] = 0.0
    x[:, 1] = 3.0
    x[:, 2] = -1.0
    codes = rng.integers(-1, 4, n_cells)  # groups 4 and 5 stay empty
    codes[7] = 4 if ref != 4 else 3  # a singleton group
    index_dtype = {"csr": np.int64, "csc": np.int32}.get(fmt, np.int64)
    codes = codes.astype(np.int64)
    xm = as_format(x, fmt, np.float64, index_dtype)
    got = _call(RANKSUMS, xm, codes, n_groups, ref)
    want = _brute_ranksums(x, codes, n_groups, ref)
    _check("rank sums", got[0], want[0])
    _check("tie sums", got[1], want[1])


def test_csr_multiblock_and_threads():
    """CSR sweep with several cache blocks per task equals CSC; 1 and 2 threads agree."""
    rng = np.random.default_rng(6)
    n_cells, n_genes = 3000, 1500
    dense = np.where(rng.random((n_cells, n_genes)) < 0.25, rng.gamma(2.0, size=(n_cells, n_genes)), 0.0)
    dense[:, 0] = np.round(dense[:, 0])
    csr = sparse.csr_matrix(dense.astype(np.float32))  # ~1.1M nnz: >= 2 blocks per task at 1 thread
    csc = as_format(dense, "csc", np.float32, np.int64)
    codes = rng.integers(-1, 8, n_cells).astype(np.int64)
    results = {}
    for n in (1, 2):
        with thread_limit(n):
            for ref in (-1, 2):
                results[n, "csr", ref] = _call(RANKSUMS, csr, codes, 8, ref)
                results[n, "csc", ref] = _call(RANKSUMS, csc, codes, 8, ref)
            results[n, "mv"] = group_mean_var(as_matrix(csr), codes, 8)
            results[n, "sums"] = _call(SUMS, csr, codes, 8)
    for key, val in results.items():
        if key[0] == 1:
            for a, b in zip(val, results[(2, *key[1:])], strict=True):
                _check(f"threads {key}", a, b)
    for ref in (-1, 2):
        for a, b in zip(results[1, "csr", ref], results[1, "csc", ref], strict=True):
            _check("csr vs csc", a, b)
    for a, b in zip(results[1, "mv"], group_mean_var(as_matrix(csc), codes, 8), strict=True):
        _check("mean_var csr vs csc", a, b)


def test_matrix_signatures_are_the_calling_convention():
    """Every data x index dtype, the matrix arguments, then codes, n_groups, params."""
    sp, dense = matrix_signatures("float64", "int64, boolean")
    tail = "int64[::1], int64, int64, boolean)"
    assert sp == [
        f"float64({d}[::1], {i}[::1], {i}[::1], int64, int64, {tail}"
        for d in ("float32", "float64")
        for i in ("int32", "int64")
    ]
    assert dense == [f"float64({d}[:, ::1], {tail}" for d in ("float32", "float64")]
    assert matrix_signatures("float64")[1][0] == "float64(float32[:, ::1], int64[::1], int64)"


# ------------------------------------------------------------------ sort pieces


@numba.njit(cache=True)
def _sort_entries(v):
    """Sort ``v``'s entries (slot = position) as the kernels do; keys and slots."""
    n = v.shape[0]
    nbytes = key_params(v)[2]
    keys = np.empty(n, np.uint64)
    pay = np.empty(slot_room(n, nbytes), np.int32)
    for i in range(n):
        put(keys, pay, i, v[i], i, nbytes)
    ak = np.empty(n, np.uint64)
    ap = np.empty(slot_room(n, nbytes), np.int32)
    hist = np.empty(HIST_SIZE, np.int64)
    if radix_sort(keys, pay, ak, ap, n, nbytes, hist):
        keys, pay = ak, ap
    sorted_keys = np.empty(n, np.uint64)
    slots = np.empty(n, np.int64)
    for i in range(n):
        sorted_keys[i] = entry_key(keys, i, nbytes)
        slots[i] = entry_slot(keys, pay, i, nbytes)
    return sorted_keys, slots


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [5, 33, 1000])
def test_radix_sort_is_stable_numeric_order(dtype, n):
    rng = np.random.default_rng(n)
    special = np.array([np.inf, -np.inf, np.nan, -np.nan, 1e-30, -1e-30, 3.0, -3.0])
    v = np.concatenate([np.round(rng.normal(size=n), 1), special]).astype(dtype)
    v[v == 0] = 0.5  # kernels never sort zeros (and -0.0 < +0.0 as keys)
    rng.shuffle(v)
    keys, perm = _sort_entries(v)
    want = np.argsort(v, kind="stable")  # numpy: NaN last, stable
    np.testing.assert_array_equal(perm, want)
    assert np.all(keys[1:] >= keys[:-1])


