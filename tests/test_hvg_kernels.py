"""HVG kernels against pristine scanpy 1.12.4, computed in the same test.

Bitwise (``np.array_equal``): clipped sums (seurat_v3) and mean/var (seurat,
cell_ranger, seurat_v3 means/variances).  Pearson residual variances: relative
difference below ``PEARSON_RTOL`` (sums regrouped; see ``scanpy_kernels.hvg.pearson``).
"""

from __future__ import annotations

import os
import sys
from itertools import pairwise
from pathlib import Path

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from numba.core import sigutils

from scanpy_kernels import as_matrix, hvg
from scanpy_kernels._groups import row_slots
from scanpy_kernels.hvg import pearson
from scanpy_kernels.toolkit import Kernel, thread_limit

sys.path.insert(0, str(Path(__file__).parent))
from hvg_reference import as_format, components, counts, matrix_args, pristine_pearson_batch

PEARSON_RTOL = 1e-12
KERNELS = [k for name in hvg.__all__ if isinstance(k := getattr(hvg, name), Kernel)]
DTYPES = [np.float32, np.float64]
INDEX = [np.int32, np.int64]


def call(kernel, *args):
    """Call ``kernel`` after checking the argument types are among its declared ones."""
    got = tuple(numba.typeof(a) for a in args)
    declared = {sigutils.normalize_signature(s)[0] for s in kernel.signatures}
    assert got in declared, f"{kernel.__name__}: {got} not declared"
    return kernel(*args)


@pytest.fixture(scope="module")
def x_counts():
    return counts(700, 150, seed=1)


@pytest.fixture(scope="module")
def codes3(x_counts):
    """Three batches (unsorted rows) and some rows in no batch (-1)."""
    rng = np.random.default_rng(7)
    return rng.integers(-1, 3, x_counts.shape[0]).astype(np.int64)


def codes_zero(n):
    return np.zeros(n, np.int64)


# ------------------------------------------------------------------ declarations
@pytest.mark.parametrize("k", KERNELS, ids=lambda k: k.__name__)
def test_declared_signatures(k):
    import inspect

    n_params = len(inspect.signature(k.py_func).parameters)
    assert k.signatures
    for s in k.signatures:
        args, ret = sigutils.normalize_signature(s)
        assert len(args) == n_params, s
        assert ret is not None, s


@pytest.mark.skipif(
    not os.environ.get("HVG_COMPILE_ALL"),
    reason="set HVG_COMPILE_ALL=1 (slow when the cache is cold)",
)
@pytest.mark.parametrize("k", KERNELS, ids=lambda k: k.__name__)
def test_declared_signatures_compile(k):
    for parallel in (False, True):
        disp = k.fresh(parallel=parallel)
        for s in k.signatures:
            disp.compile(s)


# ------------------------------------------------------- seurat_v3 clipped sums
def _clip_for(x, n_batches, seed=0):
    """Clip values that bind for many entries (like seurat_v3's reg_std * sqrt(n) + mean)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 4.0, (n_batches, x.shape[1]))


def _pristine_clipped(xb, clip_b):
    from scanpy.preprocessing._highly_variable_genes import (
        _sum_and_sum_squares_clipped,
        clip_square_sum,
    )

    if sp.issparse(xb) and xb.format == "csr":
        return _sum_and_sum_squares_clipped(
            xb.indices, xb.data, n_cols=xb.shape[1], clip_val=clip_b, nnz=xb.nnz
        )
    return clip_square_sum(xb, clip_b)  # CSC (.tocsr() inside) and dense


def _check_clipped(fmt, x, codes, n_batches, clip, threads):
    kern = {"csr": hvg.clipped_sums_csr, "csc": hvg.clipped_sums_csc}.get(
        fmt, hvg.clipped_sums_dense
    )
    with thread_limit(threads):
        sq, s = call(kern, *matrix_args(x), codes, clip)
    assert sq.shape == s.shape == (n_batches, x.shape[1])
    for b in range(n_batches):
        rsq, rs = _pristine_clipped(x[codes == b], clip[b])
        assert np.array_equal(sq[b], rsq), (fmt, b)
        assert np.array_equal(s[b], rs), (fmt, b)


@pytest.mark.parametrize("index", INDEX, ids=lambda t: t.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
def test_clipped_sums_csr_bitwise(x_counts, codes3, dtype, index):
    x = as_format(x_counts, "csr", dtype, index)
    for threads in (1, 2):
        _check_clipped("csr", x, codes_zero(x.shape[0]), 1, _clip_for(x, 1), threads)
        _check_clipped("csr", x, codes3, 3, _clip_for(x, 3, seed=1), threads)


@pytest.mark.parametrize("threads", [1, 2])
def test_clipped_sums_csr_many_inputs(threads):
    """Odd shapes: empty rows/columns, fewer columns than blocks, one dense column."""
    rng = np.random.default_rng(3)
    shapes = [(0, 5), (5, 0), (1, 1), (9, 1), (40, 2), (300, 3), (250, 64), (120, 700)]
    for seed, (n, m) in enumerate(shapes * 2):
        x = (
            counts(n, m, seed=seed, zero_genes=min(m, 2), zero_cells=min(n, 2))
            if n and m
            else np.zeros((n, m))
        )
        if n and m:
            x[:, rng.integers(m)] += rng.integers(0, 50, n)  # one heavy column
        a = as_format(x, "csr", np.float32)
        nb = 1 + seed % 3
        codes = rng.integers(-1, nb, n).astype(np.int64)
        _check_clipped("csr", a, codes, nb, _clip_for(a, nb, seed), threads)


@pytest.mark.parametrize(
    ("dtype", "index"),
    [(np.float32, np.int32), (np.float64, np.int64), (np.float32, np.int64)],
    ids=str,
)
def test_clipped_sums_csc_bitwise(x_counts, codes3, dtype, index):
    x = as_format(x_counts, "csc", dtype, index)
    for threads in (1, 2):
        _check_clipped("csc", x, codes_zero(x.shape[0]), 1, _clip_for(x, 1), threads)
        _check_clipped("csc", x, codes3, 3, _clip_for(x, 3, seed=1), threads)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
def test_clipped_sums_dense_bitwise(x_counts, codes3, dtype):
    """numpy's ``sum(axis=0)`` of a C-contiguous array adds row by row: bitwise equal."""
    x = as_format(x_counts, "dense", dtype)
    for threads in (1, 2):
        _check_clipped("dense", x, codes_zero(x.shape[0]), 1, _clip_for(x, 1), threads)
        _check_clipped("dense", x, codes3, 3, _clip_for(x, 3, seed=1), threads)


# ------------------------------------------------------------------- mean / var
def _pristine_mean_var(xb, *, n_threads):
    """fast_array_utils.stats.mean_var as scanpy calls it."""
    from fast_array_utils.stats import mean_var
    from fast_array_utils.stats._mean_var import sparse_mean_var_minor_axis

    if n_threads > numba.config.NUMBA_NUM_THREADS:  # what mean_var runs on a bigger machine
        n, m = xb.shape
        mean, var = sparse_mean_var_minor_axis(xb, major_len=n, minor_len=m, n_threads=n_threads)
        if n != 1:
            var *= n / (n - 1)
        return mean, var
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)  # its CSR kernel partitions rows by thread count
    try:
        return mean_var(xb, axis=0, correction=1)
    finally:
        numba.set_num_threads(previous)


def _kernel_mean_var(fmt, x, codes, nb, *, n_slots, count):
    if fmt == "csr":
        return hvg.mean_var_csr(*matrix_args(x), codes, nb, n_slots, 1, count)
    if fmt == "csc":
        return call(hvg.mean_var_csc, *matrix_args(x), codes, nb, 1, count)
    return call(hvg.mean_var_dense, x, codes, nb, 1, count)


def _check_mean_var(fmt, x, codes, nb, *, threads, n_slots):
    for count in (True, False):  # the counter changes the record layout (CSR)
        with thread_limit(threads):
            mean, var, npos = _kernel_mean_var(fmt, x, codes, nb, n_slots=n_slots, count=count)
        assert npos.shape == (nb, x.shape[1] if count else 0)
        for b in range(nb):
            xb = x[codes == b]
            rm, rv = _pristine_mean_var(xb, n_threads=n_slots)
            assert np.array_equal(mean[b], rm, equal_nan=True), (fmt, b, count)
            assert np.array_equal(var[b], rv, equal_nan=True), (fmt, b, count)
            if count:
                assert np.array_equal(npos[b], np.ravel((xb > 0).sum(axis=0))), (fmt, b)


def _unlogged(x, base=None):
    """flavor seurat's input to the moments: numpy's expm1 of (scaled) log data."""
    x = x.copy()
    if base is not None:
        x *= np.float64(np.log(base))  # x *= np.log(base): a float64 scalar
    if sp.issparse(x):
        x.data = np.expm1(x.data)
        return x
    return np.expm1(x)


@pytest.mark.parametrize("index", INDEX, ids=lambda t: t.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
def test_mean_var_csr_bitwise(x_counts, codes3, dtype, index):
    x = as_format(np.log1p(x_counts), "csr", dtype, index)  # non-integers: order matters
    n = x.shape[0]
    for threads in (1, 2):
        for n_slots in (1, 2, 3):  # fast_array_utils' row partition = its numba thread count
            _check_mean_var("csr", x, codes_zero(n), 1, threads=threads, n_slots=n_slots)
        _check_mean_var("csr", x, codes3, 3, threads=threads, n_slots=2)
        _check_mean_var("csr", _unlogged(x), codes_zero(n), 1, threads=threads, n_slots=2)
        _check_mean_var("csr", _unlogged(x, 2), codes3, 3, threads=threads, n_slots=2)


def test_mean_var_csr_small_and_empty_batches(x_counts):
    """The numpy combine: a batch of one row (no correction), of none (NaN)."""
    x = as_format(np.log1p(x_counts), "csr", np.float32)
    codes = np.full(x.shape[0], -1, np.int64)
    codes[5] = 0  # batch 0: one row
    codes[10:40] = 2  # batch 1: no rows
    for count in (False, True):
        mean, var, npos = hvg.mean_var_csr(*matrix_args(x), codes, 3, 2, 1, count)
        rm, rv = _pristine_mean_var(x[5:6], n_threads=2)
        assert np.array_equal(mean[0], rm) and np.array_equal(var[0], rv)
        assert np.isnan(mean[1]).all() and np.isnan(var[1]).all()
        rm, rv = _pristine_mean_var(x[10:40], n_threads=2)
        assert np.array_equal(mean[2], rm) and np.array_equal(var[2], rv)
        if count:
            assert np.array_equal(npos[1], np.zeros(x.shape[1], np.int64))


@pytest.mark.parametrize("n_groups", [1, 3])
def test_row_slots_by_definition(n_groups):
    """Row i, the k-th of group g: slot g * n_slots + k % n_slots; -1 rows none."""
    codes = np.random.default_rng(4).integers(-1, n_groups, 500).astype(np.int64)
    for n_slots in (1, 2, 3):
        seen = np.zeros(n_groups, np.int64)
        expected = np.full(codes.size, -1, np.int64)
        for i, g in enumerate(codes):
            if g >= 0:
                expected[i] = g * n_slots + seen[g] % n_slots
                seen[g] += 1
        slots, counts = row_slots(codes, n_groups, n_slots)
        assert np.array_equal(slots, expected) and np.array_equal(counts, seen)


def test_mean_var_csr_slots_matter(x_counts):
    """The reference is sensitive to the row partition: n_slots must be passed right."""
    # float64 data (float32 values and squares sum exactly in float64: any order)
    x = as_format(np.log1p(x_counts) / 3, "csr", np.float64)
    n = x.shape[0]
    m1 = hvg.mean_var_csr(*matrix_args(x), codes_zero(n), 1, 1, 1, False)
    m2 = hvg.mean_var_csr(*matrix_args(x), codes_zero(n), 1, 2, 1, False)
    assert not np.array_equal(m1[1], m2[1])


def _mean_var_csr_blocked(x, codes, nb, row_bounds, *, n_slots, count):
    """mean_var_csr's two steps over the row blocks ``row_bounds`` (as the frontend)."""
    data, indices, indptr = components(x)
    slots, n_rows = row_slots(codes, nb, n_slots)
    sums = np.zeros((nb * n_slots, (3 if count else 2) * x.shape[1]))
    for r0, r1 in pairwise(row_bounds):
        p0, p1 = indptr[r0], indptr[r1]
        block = (data[p0:p1].copy(), indices[p0:p1], indptr[r0 : r1 + 1] - p0, r1 - r0)
        out = call(hvg.mean_var_csr_sums, *block, x.shape[1], slots[r0:r1], n_slots, count, sums)
        assert out is sums or np.shares_memory(out, sums)  # updated in place
    return hvg.mean_var_from_sums(sums, n_rows, n_slots, 1, count)


@pytest.mark.parametrize("index", INDEX, ids=lambda t: t.__name__)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
def test_mean_var_csr_blocks_bitwise(x_counts, codes3, dtype, index):
    """Row blocks in order (any split, empty ones too) give one call's results bitwise."""
    x = as_format(np.log1p(x_counts), "csr", dtype, index)
    n = x.shape[0]
    splits = ([0, n], [0, 1, 2, n], [0, 0, 137, 137, 400, n], [*range(0, n, 61), n])
    for threads in (1, 2):
        for codes, nb in ((codes_zero(n), 1), (codes3, 3)):
            for n_slots in (1, 2, 3):
                for count in (False, True):
                    with thread_limit(threads):
                        whole = hvg.mean_var_csr(*matrix_args(x), codes, nb, n_slots, 1, count)
                        for bounds in splits:
                            got = _mean_var_csr_blocked(
                                x, codes, nb, bounds, n_slots=n_slots, count=count
                            )
                            for w, g in zip(whole, got, strict=True):
                                assert np.array_equal(w, g, equal_nan=True), bounds


def test_mean_var_csr_blocks_order_matters(x_counts):
    """The blocked sums can fail: blocks out of row order change the variances."""
    x = as_format(np.log1p(x_counts) / 3, "csr", np.float64)
    n = x.shape[0]
    codes = codes_zero(n)
    whole = hvg.mean_var_csr(*matrix_args(x), codes, 1, 2, 1, False)
    in_order = _mean_var_csr_blocked(x, codes, 1, [0, n // 2, n], n_slots=2, count=False)
    assert np.array_equal(whole[1], in_order[1])
    data, indices, indptr = components(x)
    slots, n_rows = row_slots(codes, 1, 2)
    sums = np.zeros((2, 2 * x.shape[1]))
    h = n // 2
    for r0, r1 in ((h, n), (0, h)):  # second half first
        p0, p1 = indptr[r0], indptr[r1]
        hvg.mean_var_csr_sums(
            data[p0:p1],
            indices[p0:p1],
            indptr[r0 : r1 + 1] - p0,
            r1 - r0,
            x.shape[1],
            slots[r0:r1],
            2,
            False,
            sums,
        )
    _, var, _ = hvg.mean_var_from_sums(sums, n_rows, 2, 1, False)
    assert not np.array_equal(whole[1], var)


@pytest.mark.parametrize(
    ("fmt", "dtype", "index"),
    [
        ("csc", np.float32, np.int32),
        ("csc", np.float64, np.int64),
        ("csc", np.float32, np.int64),
        ("dense", np.float32, None),
        ("dense", np.float64, None),
    ],
    ids=str,
)
def test_mean_var_csc_dense_bitwise(x_counts, codes3, fmt, dtype, index):
    x = as_format(np.log1p(x_counts), fmt, dtype, index)
    n = x.shape[0]
    for threads in (1, 2):
        _check_mean_var(fmt, x, codes_zero(n), 1, threads=threads, n_slots=1)
        _check_mean_var(fmt, x, codes3, 3, threads=threads, n_slots=1)
        _check_mean_var(fmt, _unlogged(x, 10), codes3, 3, threads=threads, n_slots=1)


# ------------------------------------------------------------ pearson residuals
def _kernel_pearson(fmt, x, codes, nb, *, clip, theta=100.0):
    """What the driver does: sums, zero terms, residual variances (all batches at once)."""
    m = as_matrix(x)
    sg, sc = hvg.pearson_sums(m, codes, nb)
    # scanpy: sum_total = np.sum(sums_genes) over the batch's nonzero genes
    tot = np.array([np.float64(np.sum(sg[b][sg[b] != 0])) for b in range(nb)])
    clips = np.full(nb, clip, np.float64)
    zero = hvg.pearson_zero_terms(codes, nb, sg, sc, tot, clips, theta)
    return hvg.pearson_residual_var(m, codes, nb, sg, sc, tot, clips, theta, zero)


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_pearson_levels(n):
    """The distinct values per group, ascending, with their counts, and each item's level.

    Against a per-group ``np.unique``; items in no group (``-1``) get level -1.
    """
    rng = np.random.default_rng(n)
    values = np.round(rng.gamma(1.0, 30.0, n)).astype(np.float32)  # many ties
    groups = rng.integers(-1, 3, n).astype(np.int64)
    level_of, value, count, group, start = pearson._levels(values, groups, 3)
    assert np.array_equal(level_of[groups < 0], np.full((groups < 0).sum(), -1))
    for g in range(3):
        uniq, inverse, counts = np.unique(
            values[groups == g], return_inverse=True, return_counts=True
        )
        lv = slice(start[g], start[g + 1])
        assert np.array_equal(value[lv], uniq)
        assert np.array_equal(count[lv], counts.astype(np.float64))
        assert (group[lv] == g).all()
        assert np.array_equal(level_of[groups == g], start[g] + inverse)


@pytest.mark.parametrize("fmt", ["csr", "csc", "dense"])
def test_pearson_ranges_any_split(x_counts, codes3, fmt):
    """The serial range kernels give the same bits whichever ranges a driver cuts.

    Fails if a range's pass reads or writes genes (levels) outside it, or if a gene's
    cells are summed in another order in a sub-range.
    """
    x = as_format(x_counts[x_counts.sum(axis=1) > 0], fmt, np.float32, np.int32)
    codes = codes3[: x.shape[0]]
    m = as_matrix(x)
    sg, sc = hvg.pearson_sums(m, codes, 3)
    tot = np.array([np.float64(np.sum(g[g != 0])) for g in sg])
    clips = np.full(3, 7.0)
    zero = hvg.pearson_zero_terms(codes, 3, sg, sc, tot, clips, 100.0)
    kern = getattr(hvg, f"pearson_residual_var_{fmt}")
    n_genes = x.shape[1]
    whole = np.zeros((3, n_genes))
    kern(*m.args, codes, 3, sg, sc, tot, clips, 100.0, zero, 0, n_genes, whole)
    assert (whole != 0).sum() > n_genes  # the check below compares real values
    for cuts in ((0, 1, n_genes), (0, 37, 38, 90, n_genes)):
        split = np.full((3, n_genes), np.nan)
        for lo, hi in pairwise(cuts):
            split[:, lo:hi] = 0.0
            kern(*m.args, codes, 3, sg, sc, tot, clips, 100.0, zero, lo, hi, split)
        assert np.array_equal(split, whole), cuts
    # the zero terms' table, by ranges of gene levels
    _, levels = pearson.zero_levels(codes, 3, sg, sc)
    args = (*levels, tot, clips, 100.0)
    n_lev = levels[4].shape[0]
    whole = np.zeros((n_lev, 3))
    hvg.pearson_zero_table(*args, 0, n_lev, whole)
    split = np.full((n_lev, 3), np.nan)
    for lo, hi in pairwise((0, 5, n_lev // 2, n_lev)):
        hvg.pearson_zero_table(*args, lo, hi, split)
    assert np.array_equal(split, whole)


def _max_rel(a, b):
    both = ~(np.isnan(a) & np.isnan(b))
    return float(
        np.max(np.abs(a[both] - b[both]) / np.maximum(np.abs(b[both]), 1e-300), initial=0.0)
    )


@pytest.mark.parametrize(
    ("fmt", "dtype", "index", "threads"),
    [
        ("csr", np.float32, np.int32, 2),
        ("csr", np.float64, np.int64, 1),
        ("csc", np.float32, np.int32, 2),
        ("csc", np.float64, np.int64, 1),
        ("dense", np.float32, None, 2),
        ("dense", np.float64, None, 1),
    ],
    ids=str,
)
def test_pearson_residual_var(x_counts, codes3, fmt, dtype, index, threads):
    xc = x_counts[x_counts.sum(axis=1) > 0]  # scanpy gives NaN for every gene if a cell is all-zero
    x = as_format(xc, fmt, dtype, index)
    n = x.shape[0]
    codes = codes3[: x_counts.shape[0]][x_counts.sum(axis=1) > 0]
    for cds, nb in ((codes_zero(n), 1), (codes, 3)):
        clip = np.sqrt((cds == 0).sum())  # scanpy: sqrt(n) of the first batch, reused
        with thread_limit(threads):
            res = _kernel_pearson(fmt, x, cds, nb, clip=clip)
        for b in range(nb):
            ref = pristine_pearson_batch(x[cds == b], clip=clip, theta=100.0)
            assert not np.isnan(ref).any()
            assert np.array_equal(ref == 0, res[b] == 0)
            assert _max_rel(res[b], ref) < PEARSON_RTOL, (fmt, b, _max_rel(res[b], ref))
    # clipping that binds often (small clip) and a small theta
    with thread_limit(threads):
        res = _kernel_pearson(fmt, x, codes_zero(n), 1, clip=1.5, theta=0.5)
    ref = pristine_pearson_batch(x, clip=1.5, theta=0.5)
    assert _max_rel(res[0], ref) < PEARSON_RTOL


def test_pearson_all_zero_cell_gives_nan_like_scanpy(x_counts):
    x = as_format(x_counts, "csc", np.float64, np.int32)  # has all-zero cells
    res = _kernel_pearson("csc", x, codes_zero(x.shape[0]), 1, clip=np.sqrt(x.shape[0]))
    ref = pristine_pearson_batch(x, clip=np.sqrt(x.shape[0]), theta=100.0)
    assert np.array_equal(np.isnan(res[0]), np.isnan(ref))
    assert np.array_equal(res[0][~np.isnan(ref)], ref[~np.isnan(ref)])  # the zero-filled genes


# ------------------------------------------------ end to end with scanpy's own code
def _adata(x, **obs):
    import anndata as ad
    import pandas as pd

    a = ad.AnnData(x, obs=pd.DataFrame(obs, index=[f"c{i}" for i in range(x.shape[0])]))
    a.var_names = [f"g{j}" for j in range(x.shape[1])]
    return a


def test_e2e_seurat_v3_bitwise(x_counts):
    """scanpy's seurat_v3 steps with the kernels substituted reproduce its output bitwise."""
    import scanpy as sc
    from skmisc.loess import loess

    x = as_format(x_counts, "csr", np.float32)
    n, m = x.shape
    df = sc.pp.highly_variable_genes(_adata(x), flavor="seurat_v3", n_top_genes=40, inplace=False)
    codes = codes_zero(n)
    mean, var, _ = hvg.mean_var_csr(*matrix_args(x), codes, 1, numba.get_num_threads(), 1, False)
    mean, var = mean[0], var[0]
    assert np.array_equal(df["means"].to_numpy(), mean)
    assert np.array_equal(df["variances"].to_numpy(), var)
    estimat_var = np.zeros(m, dtype=np.float64)
    not_const = var > 0
    model = loess(np.log10(mean[not_const]), np.log10(var[not_const]), span=0.3, degree=2)
    model.fit()
    estimat_var[not_const] = model.outputs.fitted_values
    reg_std = np.sqrt(10**estimat_var)
    clip_val = reg_std * np.sqrt(n) + mean
    sq, s = hvg.clipped_sums_csr(*matrix_args(x), codes, clip_val[None, :])
    norm_gene_var = (1 / ((n - 1) * np.square(reg_std))) * (
        (n * np.square(mean)) + sq[0] - 2 * s[0] * mean
    )
    assert np.array_equal(df["variances_norm"].to_numpy(), norm_gene_var)


@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_e2e_seurat_flavor_bitwise(x_counts, fmt):
    """flavor='seurat' (expm1 of log data, log1p base 2) means/dispersions bitwise."""
    import scanpy as sc

    x = as_format(np.log1p(x_counts) / np.log(2.0), fmt, np.float32)
    adata = _adata(x)
    adata.uns["log1p"] = {"base": 2}
    df = sc.pp.highly_variable_genes(adata, flavor="seurat", inplace=False)
    n = x.shape[0]
    # numpy's expm1 of the stored values (as scanpy's copy gets), scaled as scanpy does
    e = x.copy()
    e *= np.log(2.0)
    e = np.expm1(e)
    if fmt == "csr":
        mean, var, _ = hvg.mean_var_csr(
            *matrix_args(e), codes_zero(n), 1, numba.get_num_threads(), 1, False
        )
    else:
        mean, var, _ = hvg.mean_var_dense(e, codes_zero(n), 1, 1, False)
    mean, var = mean[0].copy(), var[0]
    mean[mean == 0] = 1e-12
    dispersion = var / mean
    dispersion[dispersion == 0] = np.nan
    dispersion = np.log(dispersion)
    mean = np.log1p(mean)
    assert np.array_equal(df["means"].to_numpy(), mean)
    assert np.array_equal(df["dispersions"].to_numpy(), dispersion, equal_nan=True)


def test_e2e_pearson_residuals(x_counts, codes3):
    import pandas as pd
    import scanpy as sc

    keep = x_counts.sum(axis=1) > 0
    x = as_format(x_counts[keep], "csr", np.float32)
    codes = np.maximum(codes3[keep], 0)  # every cell in a batch
    adata = _adata(x, batch=pd.Categorical(codes.astype(str)))
    df = sc.experimental.pp.highly_variable_genes(
        adata, flavor="pearson_residuals", n_top_genes=30, batch_key="batch", inplace=False
    )
    res = _kernel_pearson("csr", x, codes, 3, clip=np.sqrt((codes == 0).sum()))
    assert _max_rel(res.mean(axis=0), df["residual_variances"].to_numpy()) < PEARSON_RTOL


# ------------------------------------------- seurat_v3 batch moments (aggregate)
@pytest.mark.parametrize(
    ("fmt", "dtype", "index"),
    [
        ("csr", np.float32, np.int32),
        ("csr", np.float64, np.int64),
        ("csc", np.float32, np.int64),
        ("dense", np.float32, None),
        ("dense", np.float64, None),
    ],
    ids=str,
)
def test_welford_mean_var_bitwise(x_counts, codes3, fmt, dtype, index):
    """Equal to ``sc.get.aggregate(..., func=["mean", "var"])`` (seurat_v3 batch_key path)."""
    import pandas as pd
    import scanpy as sc

    x = as_format(np.log1p(x_counts), fmt, dtype, index)
    cats = pd.Categorical.from_codes(codes3, categories=["a", "b", "c"])  # -1: NaN, not aggregated
    agg = sc.get.aggregate(_adata(x, batch=cats), by="batch", func=["mean", "var"])
    ref_mean = np.asarray(agg.layers["mean"])
    ref_var = np.asarray(agg.layers["var"])
    kern = {
        "csr": hvg.welford_mean_var_csr,
        "csc": hvg.welford_mean_var_csc,
        "dense": hvg.welford_mean_var_dense,
    }[fmt]
    for threads in (1, 2):
        with thread_limit(threads):
            # sparse: stored zeros are values, as aggregate; dense: no nonzero count
            mean, var, _ = call(kern, *matrix_args(x), codes3, 3, False)
        counts = np.bincount(codes3[codes3 >= 0], minlength=3)
        var *= (counts / np.where(counts > 1, counts - 1, np.nan))[
            :, np.newaxis
        ]  # Aggregate.mean_var(dof=1)
        assert np.array_equal(mean, ref_mean)
        assert np.array_equal(var, ref_var)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_welford_stored_zeros(x_counts, codes3, fmt):
    """``aggregate`` takes a stored zero as a value (seurat_v3: ``skip_zeros=False``);
    ``skip_zeros=True`` is ``aggregate`` of the matrix without them (rank_genes_groups
    eliminates them first).  The two differ here, so the flag is needed."""
    import pandas as pd
    import scanpy as sc

    x = as_format(np.log1p(x_counts), fmt, np.float64, np.int32)
    x.data[::5] = 0.0  # stored zeros
    clean = x.copy()
    clean.eliminate_zeros()
    cats = pd.Categorical.from_codes(codes3, categories=["a", "b", "c"])
    kern = hvg.welford_mean_var_csr if fmt == "csr" else hvg.welford_mean_var_csc
    counts = np.bincount(codes3[codes3 >= 0], minlength=3)
    got = {}
    for skip, ref_x in ((False, x), (True, clean)):
        agg = sc.get.aggregate(_adata(ref_x, batch=cats), by="batch", func=["mean", "var"])
        mean, var, n_values = call(kern, *matrix_args(x), codes3, 3, skip)
        var *= (counts / np.where(counts > 1, counts - 1, np.nan))[:, np.newaxis]
        assert np.array_equal(mean, np.asarray(agg.layers["mean"]))
        assert np.array_equal(var, np.asarray(agg.layers["var"]))
        stored = ref_x.copy()
        stored.data[:] = 1.0  # the values Welford runs over: the stored ones
        expected = [np.ravel(stored[codes3 == b].sum(axis=0)) for b in range(3)]
        assert np.array_equal(n_values, np.stack(expected))
        got[skip] = var
    assert not np.array_equal(got[False], got[True])


def test_mean_var_count_positive_off(x_counts):
    x = as_format(x_counts, "csr", np.float32)
    n = x.shape[0]
    on = hvg.mean_var_csr(*matrix_args(x), codes_zero(n), 1, 2, 1, True)
    off = hvg.mean_var_csr(*matrix_args(x), codes_zero(n), 1, 2, 1, False)
    assert np.array_equal(on[0], off[0]) and np.array_equal(on[1], off[1])
    assert not off[2].any() and on[2].any()


def _loess_clip(mean, var, n, span=0.3):
    """scanpy seurat_v3's per-batch regression (skmisc loess), unchanged."""
    from skmisc.loess import loess

    estimat_var = np.zeros(mean.shape[0], dtype=np.float64)
    if (not_const := var > 0).any():
        model = loess(np.log10(mean[not_const]), np.log10(var[not_const]), span=span, degree=2)
        model.fit()
        estimat_var[not_const] = model.outputs.fitted_values
    reg_std = np.sqrt(10**estimat_var)
    return reg_std, reg_std * np.sqrt(n) + mean


@pytest.mark.parametrize("fmt", ["csr", "csc", "dense"])
def test_e2e_seurat_v3_batches_bitwise(x_counts, codes3, fmt):
    """seurat_v3 with batch_key: Welford moments + one clipped-sums pass for all batches."""
    import pandas as pd
    import scanpy as sc

    x = as_format(x_counts, fmt, np.float32, np.int32)
    labels = np.array(["b0", "b1", "b2"])[np.maximum(codes3, 0)]
    df = sc.pp.highly_variable_genes(
        _adata(x, batch=pd.Categorical(labels)),
        flavor="seurat_v3",
        n_top_genes=40,
        batch_key="batch",
        inplace=False,
    )
    uniq = np.unique(labels)
    codes = np.searchsorted(uniq, labels).astype(np.int64)
    nb = len(uniq)
    args = matrix_args(x)
    welford = {
        "csr": hvg.welford_mean_var_csr,
        "csc": hvg.welford_mean_var_csc,
        "dense": hvg.welford_mean_var_dense,
    }
    clipped = {
        "csr": hvg.clipped_sums_csr,
        "csc": hvg.clipped_sums_csc,
        "dense": hvg.clipped_sums_dense,
    }
    mean, var, _ = welford[fmt](*args, codes, nb, False)
    counts = np.bincount(codes, minlength=nb)
    var *= (counts / np.where(counts > 1, counts - 1, np.nan))[:, np.newaxis]
    fits = [_loess_clip(mean[b], var[b], counts[b]) for b in range(nb)]
    sq, s = clipped[fmt](*args, codes, np.stack([clip for _, clip in fits]))
    norm = [
        (1 / ((counts[b] - 1) * np.square(fits[b][0])))
        * ((counts[b] * np.square(mean[b])) + sq[b] - 2 * s[b] * mean[b])
        for b in range(nb)
    ]
    assert np.array_equal(df["variances_norm"].to_numpy(), np.mean(np.stack(norm), axis=0))


@pytest.mark.parametrize("threads", [1, 2])
def test_sweeps_same_result_every_format(x_counts, codes3, threads):
    """One body, three sweeps: where the formula is the same for every format, CSR,
    CSC and dense of one matrix give bitwise the same numbers (float64 data: the
    formats differ only in which zeros are visited, and these sums skip nothing a
    zero changes).  Fails if a format's sweep drops, repeats or reorders entries.
    """
    x = x_counts.astype(np.float64)
    x[:, 5] = 0.5  # a non-integer column (clipped below and above)
    clip = np.random.default_rng(3).uniform(0.5, 4.0, (3, x.shape[1]))
    got = {}
    with thread_limit(threads):
        for fmt in ("csr", "csc", "dense"):
            args = matrix_args(as_format(x, fmt, np.float64))
            sums = getattr(hvg, f"clipped_sums_{fmt}")(*args, codes3, clip)
            genes, cells = hvg.pearson_sums(
                as_matrix(as_format(x, fmt, np.float64)), codes3, 3
            )
            out = [*sums, genes, cells]
            if fmt != "csr":  # CSC and dense: float64 sums in row order
                mv = getattr(hvg, f"mean_var_{fmt}")(*args, codes3, 3, 1, True)
                out += mv
            got[fmt] = out
    for fmt in ("csc", "dense"):
        for a, b in zip(got["csr"][:4], got[fmt][:4], strict=True):
            assert np.array_equal(a, b), fmt
    for a, b in zip(got["csc"][4:], got["dense"][4:], strict=True):
        assert np.array_equal(a, b)
