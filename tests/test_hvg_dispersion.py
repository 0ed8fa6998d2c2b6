"""Mean bins and normalized dispersions (flavors seurat, cell_ranger) against pristine.

The reference is scanpy 1.12.4's own pandas code (``_get_mean_bins``,
``_get_disp_stats``) on the same means and dispersions; every result must be bitwise
equal (NaN in the same places).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scanpy_kernels import hvg

FLAVORS = ["seurat", "cell_ranger"]


def _pristine(means, dispersions, flavor, n_bins):
    from scanpy.preprocessing._highly_variable_genes import _get_disp_stats, _get_mean_bins

    df = pd.DataFrame({"means": means, "dispersions": dispersions})
    df["mean_bin"] = _get_mean_bins(df["means"], flavor, n_bins)
    stats = _get_disp_stats(df, flavor)
    norm = ((df["dispersions"] - stats["avg"]) / stats["dev"]).to_numpy()
    return df["mean_bin"].cat.codes.to_numpy(np.int64), norm


def _edges(means, flavor, n_bins):
    """The edges pd.cut uses: pandas' own for seurat, scanpy's percentiles for cell_ranger."""
    if flavor == "seurat":
        return pd.cut(means, n_bins, retbins=True)[1]
    return np.r_[-np.inf, np.percentile(means, np.arange(10, 105, 5)), np.inf]


def pandas_reduceat_means() -> bool:
    """Whether pandas averages a sorted group without NaN with ``np.add.reduceat``.

    One group ``[1, 1e100, 1, -1e100]``: Kahan's sum loses both ones (mean 0), reduceat's
    ``1 + ((1e100 + 1) - 1e100)`` keeps the first (mean 0.25).
    """
    x = pd.Series([1.0, 1e100, 1.0, -1e100])
    return bool(x.groupby(np.zeros(4, np.int64)).mean().iloc[0] != 0.0)


def _ours(means, dispersions, flavor, n_bins):
    edges = _edges(means, flavor, n_bins)
    codes = hvg.mean_bins(means, edges)
    if flavor == "seurat":
        norm, _ = hvg.normalized_dispersions_mean_std(
            dispersions, codes, edges.size - 1, pandas_reduceat_means()
        )
    else:
        from scipy.stats import norm as gaussian

        norm = hvg.normalized_dispersions_median_mad(
            dispersions, codes, edges.size - 1, gaussian.ppf(0.75)
        )
    return codes, norm


def _genes(kind, n, seed):
    """Means and dispersions as the flavors produce them, plus adversarial variants."""
    rng = np.random.default_rng(seed)
    means = rng.lognormal(-1.0, 1.2, n)
    dispersions = rng.lognormal(0.5, 0.8, n) * means
    if kind == "log":  # seurat: log dispersions, log1p means
        dispersions, means = np.log(dispersions), np.log1p(means)
    elif kind == "nan":  # zero dispersions (seurat: log(NaN)), whole bins of them
        dispersions[rng.random(n) < 0.2] = np.nan
        dispersions[means > np.quantile(means, 0.97)] = np.nan
    elif kind == "offset":  # large common offset: Kahan and Welford matter
        dispersions = 1e8 + rng.normal(0, 1e-3, n)
    elif kind == "ties":  # repeated values, equal medians, zero MADs
        dispersions = np.round(dispersions, 1)
        means = np.round(means, 2)
    elif kind == "sparse_bins":  # most genes in one bin: empty and one-gene bins
        k = min(n, 5)
        means[: n - k] = 0.001 * rng.random(n - k)
        means[n - k :] = [1.0, 2.0, 5.0, 5.1, 9.0][:k]
    elif kind == "sorted":  # bins never decrease along the genes
        means = np.sort(means)
    elif kind == "inf":  # an infinite dispersion (Kahan's compensation reset)
        dispersions[::97] = np.inf
    return np.ascontiguousarray(means), np.ascontiguousarray(dispersions)


KINDS = ["plain", "log", "nan", "offset", "ties", "sparse_bins", "sorted", "inf"]


@pytest.mark.parametrize("n", [1, 2, 7, 60, 3001, 20000])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("flavor", FLAVORS)
def test_bitwise_vs_pristine(flavor, kind, n):
    means, dispersions = _genes(kind, n, seed=n)
    # n_bins=1, few genes, sorted means: pandas' reduceat mean (one bin of 20000:
    # beyond numpy's 8192-element buffer); else its Kahan mean
    for n_bins in (1, 5, 20):
        try:
            ref_codes, ref = _pristine(means, dispersions, flavor, n_bins)
        except ValueError as e:  # duplicate percentile edges (few genes, ties)
            assert "Bin edges must be unique" in str(e)
            continue
        codes, norm = _ours(means, dispersions, flavor, n_bins)
        np.testing.assert_array_equal(codes, ref_codes)
        assert np.array_equal(norm, ref, equal_nan=True), (flavor, kind, n, n_bins)


def test_mean_bins_pd_cut_edges():
    """Values on an edge go to the bin on its left; outside and NaN get -1."""
    edges = np.array([0.0, 1.0, 2.0, 3.0])
    x = np.array([-1.0, 0.0, 0.5, 1.0, np.nextafter(1.0, 2.0), 2.0, 3.0, 3.5, np.nan, np.inf])
    ref = pd.cut(x, edges).codes.astype(np.int64)
    np.testing.assert_array_equal(hvg.mean_bins(x, edges), ref)
    np.testing.assert_array_equal(ref, [-1, -1, 0, 0, 1, 1, 2, -1, -1, -1])


def test_seurat_single_value_bins():
    """A bin with one non-NaN value: dev = its mean, avg = 0 (scanpy's postprocessing)."""
    codes = np.array([0, 1, 1, 2, 2, 2], np.int64)
    disp = np.array([3.0, 1.0, np.nan, 1.0, 2.0, 4.0])
    norm, n_values = hvg.normalized_dispersions_mean_std(disp, codes, 4, True)
    np.testing.assert_array_equal(n_values, [1, 1, 3, 0])
    mean, sd = 7.0 / 3.0, np.std([1.0, 2.0, 4.0], ddof=1)
    expected = [1.0, 1.0, np.nan, (1 - mean) / sd, (2 - mean) / sd, (4 - mean) / sd]
    np.testing.assert_allclose(norm, expected, rtol=1e-15)


def test_cell_ranger_mad_nan_and_median_skipna():
    """MAD of a bin with a NaN is NaN (numpy's median); its median skips the NaN."""
    codes = np.zeros(4, np.int64)
    disp = np.array([1.0, np.nan, 3.0, 10.0])
    c = 0.6744897501960817
    norm = hvg.normalized_dispersions_median_mad(disp, codes, 1, c)
    assert np.isnan(norm).all()
    codes[1] = 1  # move the NaN to a bin of its own: median 3, MAD median(2, 0, 7)/c
    norm = hvg.normalized_dispersions_median_mad(disp, codes, 2, c)
    np.testing.assert_array_equal(norm[[0, 2, 3]], (disp[[0, 2, 3]] - 3.0) / (2.0 / c))
    assert np.isnan(norm[1])


def test_mad_constant_is_statsmodels():
    from scipy.stats import norm as gaussian
    from statsmodels.robust.scale import mad

    assert mad.__defaults__[0] == gaussian.ppf(0.75)


def _kahan_means(x, codes, n_groups):
    """pandas' Cython ``group_mean``: Kahan, whatever the order of the groups."""
    from pandas._libs.groupby import group_mean

    out, counts = np.empty((n_groups, 1)), np.zeros(n_groups, np.int64)
    group_mean(out, counts, x[:, None], codes.astype(np.intp))
    return out[:, 0]


@pytest.mark.parametrize("reduceat", [True, False])
def test_sorted_bins_mean_both_pandas_paths(reduceat):
    """Sorted bins without NaN: pandas >= 3.1's reduceat mean, or (pandas 2.3, 3.0) Kahan."""
    rng = np.random.default_rng(5)
    # magnitudes from 1e-8 to 1e7: rounding errors the two sums leave differently
    dispersions = rng.normal(0.0, 1.0, 5000) * 10.0 ** rng.integers(-8, 8, 5000)
    sizes = np.array([1, 200, 2999, 1800])
    codes = np.repeat(np.arange(4), sizes).astype(np.int64)
    norm, _ = hvg.normalized_dispersions_mean_std(dispersions, codes, 5, reduceat)
    starts = np.r_[0, np.cumsum(sizes[:-1])]
    reduceat_avg = np.add.reduceat(dispersions, starts) / sizes
    kahan_avg = _kahan_means(dispersions, codes, 4)
    assert not np.array_equal(reduceat_avg, kahan_avg)  # the paths differ here
    avg = (reduceat_avg if reduceat else kahan_avg).copy()
    dev = pd.Series(dispersions).groupby(codes).std().to_numpy().copy()
    dev[0], avg[0] = avg[0], 0.0  # one value: dev = avg, avg = 0
    np.testing.assert_array_equal(norm, (dispersions - avg[codes]) / dev[codes])


@pytest.mark.parametrize("n_batches", [1, 2, 5])
def test_batch_means_vs_pandas_groupby(n_batches):
    """scanpy's merge of batch tables: ``concat(tables).groupby(gene).mean()``."""
    rng = np.random.default_rng(n_batches)
    n_genes = 400
    values = rng.normal(0.0, 1.0, (n_batches, n_genes)) * 10.0 ** rng.integers(-8, 8, n_genes)
    values[rng.random(values.shape) < 0.1] = np.nan
    values[:, :3] = np.nan  # a gene without values: NaN
    values[:, 3] = [np.inf] + [1.0] * (n_batches - 1)
    names = np.array([f"g{j}" for j in rng.permutation(n_genes)])  # unsorted names
    table = pd.DataFrame({"v": values.ravel()}, index=np.tile(names, n_batches))
    ref = table.groupby(table.index).mean()["v"].reindex(names).to_numpy()
    assert np.array_equal(hvg.batch_means(values), ref, equal_nan=True)
