"""The HVG drivers against pristine scanpy's own computations (fast-array-utils).

Run without a fork: the drivers own the block planning (``UNLOG_BLOCK_BYTES``),
the batch groups (``PARTIALS_BUDGET``) and the slots that reproduce fast-array-utils.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from scanpy_kernels import as_matrix, hvg
from scanpy_kernels.hvg import drivers

stats = pytest.importorskip("fast_array_utils.stats")


def _log_data(layout, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = np.log1p(rng.negative_binomial(2, 0.6, (300, 80))).astype(dtype)
    if layout == "dense":
        return x
    return (sp.csr_matrix if layout == "csr" else sp.csc_matrix)(x)


def _unlogged_copy(x, scale):
    y = x.copy()
    if scale != 1.0:
        y *= scale
    return np.expm1(y)


@pytest.mark.parametrize("scale", [1.0, np.log(2)], ids=["e", "base2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["csr", "csc", "dense"])
def test_unlogged_moments_in_blocks(monkeypatch, layout, dtype, scale):
    """Blocks of one row/column or of a few give one block's moments bit for bit,
    and those are fast-array-utils' of scanpy's un-logged copy."""
    x = _log_data(layout, dtype)
    m = as_matrix(x)
    one = np.zeros(x.shape[0], np.int64)
    whole = drivers.mean_var(m, one, 1, log_scale=scale, count_positive=True)
    for n_values in (5, 600):
        monkeypatch.setattr(drivers, "UNLOG_BLOCK_BYTES", n_values * np.dtype(dtype).itemsize)
        got = drivers.mean_var(m, one, 1, log_scale=scale, count_positive=True)
        for a, b in zip(got, whole, strict=True):
            np.testing.assert_array_equal(a, b)
    mean, var = stats.mean_var(_unlogged_copy(x, scale), axis=0, correction=1)
    np.testing.assert_array_equal(whole[0][0], mean)
    np.testing.assert_array_equal(whole[1][0], var)
    expressed = np.asarray((x != 0).sum(axis=0)).ravel()
    np.testing.assert_array_equal(whole[2][0], expressed)


def test_batch_groups_equal_one_pass(monkeypatch):
    """Batches split into groups (a small partial-sum budget) give one pass's moments."""
    x = _log_data("csr", np.float32)
    m = as_matrix(x)
    codes = np.random.default_rng(3).integers(-1, 5, x.shape[0]).astype(np.int64)
    whole = drivers.mean_var(m, codes, 5, count_positive=True)
    monkeypatch.setattr(drivers, "PARTIALS_BUDGET", 16 * 2 * 80 * 2)
    split = drivers.mean_var(m, codes, 5, count_positive=True, n_slots=2)
    ref = drivers.mean_var(m, codes, 5, count_positive=True, n_slots=2)
    for a, b in zip(split, ref, strict=True):
        np.testing.assert_array_equal(a, b)
    for b in range(5):
        mean, var = stats.mean_var(x[codes == b], axis=0, correction=1)
        np.testing.assert_allclose(whole[0][b], mean, rtol=1e-12)
        np.testing.assert_allclose(whole[1][b], var, rtol=1e-9)


def test_seurat_unlogs_without_a_copy(monkeypatch):
    """The driver never holds an un-logged copy of the matrix's stored values."""
    import tracemalloc

    rng = np.random.default_rng(0)
    x = sp.random(2000, 400, density=0.5, format="csr", dtype=np.float32, rng=rng)
    x.data = np.log1p(x.data)
    m = as_matrix(x)
    one = np.zeros(x.shape[0], np.int64)
    monkeypatch.setattr(drivers, "UNLOG_BLOCK_BYTES", 1 << 16)
    drivers.mean_var(m, one, 1, log_scale=1.0)  # compile
    tracemalloc.start()
    try:
        drivers.mean_var(m, one, 1, log_scale=1.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < x.data.nbytes / 4, (peak, x.data.nbytes)


def test_dispersion_errors():
    mean = np.array([0.5, np.nan, 1.0])
    with pytest.raises(ValueError, match=r"mean of 1 gene\(s\) is NaN"):
        hvg.dispersions_seurat(mean.copy(), np.ones(3), 20, reduceat_means=False)
    with pytest.raises(ValueError, match="`bins` should be a positive integer"):
        hvg.dispersions_seurat(np.ones(3), np.ones(3), 0, reduceat_means=False)
    tied = hvg.dispersions_cell_ranger(np.ones(30), np.ones(30))  # pd.cut refuses them
    assert not (np.diff(tied.edges) > 0).all()
    assert ((tied.bins >= 0) & (tied.bins < len(tied.edges) - 1)).all()


def test_combine_batches_selects_by_batches_then_dispersion():
    means = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 5.0]])
    disp_norm = np.array([[0.5, 2.0, 1.0], [np.nan, 1.0, 3.0]])
    hv = np.array([[True, True, False], [False, True, True]])
    names = np.array([2, 0, 1])  # the argsort of the gene names
    out, rows = hvg.combine_batches(means, means, disp_norm, hv, name_order=names, n_top=2)
    assert rows == slice(None)
    np.testing.assert_array_equal(out["highly_variable_nbatches"], [1, 2, 1])
    np.testing.assert_array_equal(out["means"], [1.0, 2.0, 4.0])
    np.testing.assert_array_equal(out["dispersions_norm"], [0.5, 1.5, 2.0])
    np.testing.assert_array_equal(out["highly_variable"], [False, True, True])
    np.testing.assert_array_equal(out["highly_variable_intersection"], [False, True, False])
    out, rows = hvg.combine_batches(
        means, means, disp_norm, hv, name_order=names, bounds=(0.0, 3.5, 0.6, np.inf)
    )
    np.testing.assert_array_equal(rows, names)  # in name order, as pandas' groupby
    np.testing.assert_array_equal(out["means"], [4.0, 1.0, 2.0])
    np.testing.assert_array_equal(out["highly_variable"], [False, False, True])


def test_descending_ranks_and_category_codes():
    x = np.random.default_rng(0).normal(size=(3, 50))
    ranks = hvg.descending_ranks(x)
    np.testing.assert_array_equal(ranks, np.argsort(np.argsort(-x, axis=1), axis=1))
    labels = np.array(["b", "c", "a", "unused"], dtype=object)
    codes = np.array([0, 2, 1, 0, 2])
    used, inverse = hvg.category_codes(codes, labels)
    want, want_inverse = np.unique(labels[codes], return_inverse=True)
    np.testing.assert_array_equal(used, want)
    np.testing.assert_array_equal(inverse, want_inverse)


@pytest.mark.parametrize("layout", ["csr", "csc", "dense"])
def test_pearson_constant_matrix_is_exactly_zero(layout):
    """Residuals all exactly 0 (counts that follow the cells' sums): variance exactly 0,
    as scanpy's two passes give, not the regrouped sums' rounding noise (+-1e-14)."""
    sc = pytest.importorskip("scanpy")
    from anndata import AnnData

    x = np.full((300, 40), 3.0, np.float32)
    x[:, 5] = 0.0  # a gene without counts: 0 as well
    mat = x if layout == "dense" else (sp.csr_matrix if layout == "csr" else sp.csc_matrix)(x)
    one = np.zeros(x.shape[0], np.int64)
    ours = drivers.pearson_residual_variances(
        as_matrix(mat), one, 1, clip=np.sqrt(300), theta=100.0
    )[0]
    pristine = sc.experimental.pp.highly_variable_genes(
        AnnData(mat), n_top_genes=10, inplace=False
    )["residual_variances"].to_numpy()
    np.testing.assert_array_equal(ours, pristine)
    assert not ours.any()
