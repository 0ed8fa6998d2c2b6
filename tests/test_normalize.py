"""The normalize kernels (``scanpy_kernels.normalize``) against scanpy 1.12.4's helper.

Every comparison is bitwise (``np.testing.assert_array_equal(strict=True)``, dtypes
included): the kernels sum each row in scanpy's order with its float64 accumulator and
divide with one IEEE division per value, so any difference is a bug.  scanpy's
``_normalize_total_helper`` runs on a copy of the same matrix (it replaces ``x.data``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import sparse

from scanpy_kernels import UnsupportedInputError, as_matrix, normalize
from scanpy_kernels.toolkit import thread_limit

pristine = pytest.importorskip("scanpy.preprocessing._normalization")

pytestmark = pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")


def _counts(rng, n_rows, n_cols, density, dtype, index=np.int32):
    x = sparse.random(n_rows, n_cols, density=density, format="csr", random_state=rng)
    x.data = np.ceil(x.data * 30.0)
    x[::9, 3] = 4000.0  # a highly expressed gene in some cells
    x[5] = 0.0  # an empty cell
    x.eliminate_zeros()
    x = x.astype(dtype)
    x.indices, x.indptr = x.indices.astype(index), x.indptr.astype(index)
    return x


def _expected(x, **kw):
    kw = {"exclude_highly_expressed": False, "max_fraction": 0.05, **kw}
    y = x.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the median of no values
        out, factors, subset = pristine._normalize_total_helper(y, **kw)
    if subset is not None:  # scanpy's ~np.where(...)[0]: ~ of the genes' positions
        high = np.zeros(x.shape[1], bool)
        high[~subset] = True
        subset = high
    return out.data, factors, subset


def _check(x, **kw):
    before = x.copy()
    m = as_matrix(x, stored=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = normalize.normalize_total(m, **kw)
    data, factors, high = _expected(x, **kw)
    np.testing.assert_array_equal(got.data, data, strict=True)
    np.testing.assert_array_equal(got.factors, factors, strict=True)
    if high is None:
        assert got.excluded is None
    else:
        np.testing.assert_array_equal(got.excluded, high, strict=True)
    # the caller's matrix is untouched: a new values array
    for name in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(x, name), getattr(before, name))
    assert got.data is not x.data
    return got


PARAMS = [
    {"target_sum": None},
    {"target_sum": 1e4},
    {"target_sum": 3},
    {"target_sum": np.float32(0.7)},
    {"target_sum": None, "exclude_highly_expressed": True},
    {"target_sum": 1e6, "exclude_highly_expressed": True, "max_fraction": 0.2},
    {"target_sum": None, "exclude_highly_expressed": True, "max_fraction": 1},
    {"target_sum": None, "exclude_highly_expressed": True, "max_fraction": 0.0},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("kw", PARAMS, ids=str)
def test_normalize_total_equals_scanpy(dtype, index, kw):
    rng = np.random.default_rng(7)
    x = _counts(rng, 300, 800, 0.2, dtype, index)
    x.data[:40] *= 0.37  # non-integral values: the sums depend on their order
    got = _check(x, **kw)
    assert got.data.dtype == dtype


def test_stored_order_and_duplicates_as_scanpy():
    """Unsorted rows and duplicate entries are summed and divided as stored."""
    rng = np.random.default_rng(2)
    x = _counts(rng, 200, 300, 0.3, np.float32)
    x.data = (x.data * 0.731).astype(np.float32)
    for i in range(0, 200, 3):  # reverse some rows, store an entry twice
        s, e = x.indptr[i], x.indptr[i + 1]
        x.indices[s:e] = x.indices[s:e][::-1].copy()
        x.data[s:e] = x.data[s:e][::-1].copy()
        if e - s > 1:
            x.indices[s + 1] = x.indices[s]
    x.has_canonical_format = False
    m = as_matrix(x, stored=True)
    assert not m.sorted
    assert m.data is x.data  # nothing copied or sorted
    for kw in PARAMS[:2] + PARAMS[4:6]:
        _check(x, **kw)


def test_float64_target_sum_gives_float64_values_as_numpy():
    """A numpy float64 ``target_sum`` makes float64 factors, so float64 values."""
    x = _counts(np.random.default_rng(0), 50, 60, 0.3, np.float32)
    got = _check(x, target_sum=np.float64(1e4))
    assert got.data.dtype == np.float64


def test_special_values():
    x = _counts(np.random.default_rng(1), 60, 70, 0.3, np.float32)
    x.data[[0, 9, 30]] = [np.nan, np.inf, -3.0]
    for kw in PARAMS:
        _check(x, **kw)


def test_every_cell_empty():
    """No positive total: scanpy's median of nothing (NaN), so NaN factors."""
    x = sparse.csr_array((40, 10), dtype=np.float32)
    got = _check(x, target_sum=None)
    assert np.isnan(got.factors).all()


def test_thread_counts_agree():
    x = _counts(np.random.default_rng(4), 2000, 500, 0.1, np.float32)
    x.data *= np.float32(0.3)
    kw = {"target_sum": None, "exclude_highly_expressed": True}
    results = []
    for n in (1, 2):
        with thread_limit(n):
            results.append(normalize.normalize_total(as_matrix(x, stored=True), **kw))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


def test_other_inputs_keep_scanpys_code():
    x = _counts(np.random.default_rng(5), 20, 30, 0.3, np.float32)
    with pytest.raises(UnsupportedInputError, match="CSR"):
        normalize.normalize_total(as_matrix(x.tocsc(), stored=True), target_sum=1)
    with pytest.raises(UnsupportedInputError, match="CSR"):
        normalize.normalize_total(as_matrix(x.toarray()), target_sum=1)
    with pytest.raises(UnsupportedInputError, match="max_fraction"):
        normalize.normalize_total(
            as_matrix(x, stored=True),
            target_sum=1,
            exclude_highly_expressed=True,
            max_fraction=np.float32(0.1),
        )


def test_corrupt_structure_raises():
    x = _counts(np.random.default_rng(6), 20, 30, 0.3, np.float32)
    bad = x.copy()
    bad.indices[3] = 30  # outside the matrix: read only to find the high genes
    with pytest.raises(ValueError, match="indices lie outside"):
        normalize.normalize_total(
            as_matrix(bad, stored=True), target_sum=1, exclude_highly_expressed=True
        )
    bad = x.copy()
    bad.indptr[4] = bad.indptr[5] + 1  # decreasing
    with pytest.raises(ValueError, match="corrupt"):
        as_matrix(bad, stored=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_totals_both_roads(dtype):
    """Rows of whole numbers (int64 lanes) and every kind of row that is not."""
    rng = np.random.default_rng(8)
    x = rng.poisson(3.0, (12, 400)).astype(np.float64)
    x[1, 7] = 0.5  # not whole: value by value
    x[2, 9] = np.nan
    x[3, 11] = np.inf
    x[4, :50] = -rng.poisson(5.0, 50)  # negative whole numbers: the lanes' road
    x[5] = 0.0  # stored -0.0 below: scanpy's 0.0 + -0.0 is +0.0
    x[6, 13] = 2.0**31  # whole, but not below 2**31: value by value
    x[7, 14] = 3.0e9
    x[8] *= 1.37  # real values
    x[9, :] = rng.random(400) * 1e-3 + 1e6  # sums that round in float32
    m = sparse.csr_array(x.astype(dtype))
    s = m.indptr[5]
    m = sparse.csr_array(
        (
            np.insert(m.data, s, np.full(3, -0.0, dtype)),
            np.insert(m.indices, s, [0, 1, 2]),
            m.indptr + np.where(np.arange(m.indptr.size) > 5, 3, 0),
        ),
        shape=m.shape,
    )
    assert np.signbit(m.data[s : s + 3]).all()
    for kw in PARAMS[:2]:
        _check(m, **kw)
    totals = normalize.row_totals(*as_matrix(m, stored=True).args, np.zeros(0, bool))
    assert totals[5] == 0.0
    assert not np.signbit(totals[5])


def test_counts_road_stops_where_float64_sums_round():
    """Past 2**53 scanpy's float64 partial sums round: its sum is not the exact one.

    A row of 2**22 + 2 values of 2**31 - 1, then 1000 ones: each 1 added after the
    partial sum passes 2**53 is lost in scanpy's sum (ties to even), so the lanes'
    exact integer sum would differ; the magnitude bound sends the row value by value.
    """
    n_big = 2**22 + 2
    vals = np.concatenate([np.full(n_big, 2.0**31 - 1), np.ones(1000)])
    x = sparse.csr_array(
        (vals, np.arange(vals.size), np.array([0, vals.size])), shape=(1, vals.size)
    )
    exact = float(n_big * (2**31 - 1) + 1000)  # the exact sum, rounded once
    got = normalize.row_totals(*as_matrix(x, stored=True).args, np.zeros(0, bool))
    want, _ = pristine._normalize_csr(
        x,
        rows=1,
        columns=vals.size,
        exclude_highly_expressed=False,
        max_fraction=0.05,
        n_threads=1,
    )
    assert want[0] != exact  # the case this test is about
    np.testing.assert_array_equal(got, want, strict=True)
