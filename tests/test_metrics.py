"""``metrics.morans_i`` / ``metrics.gearys_c`` against scanpy 1.12.4's numba kernels.

scanpy's ``_*_mtx`` kernels are parallel numba functions whose ``W = g.data.sum()``
becomes a parallel reduction: its last bits follow numba's thread count.  With one
numba thread it is the sequential sum the kernels compute at any thread count, so the
comparisons run scanpy's kernels on one numba thread and require the same bits
(``migration_tests/TOLERANCES.md`` bounds the difference at more threads).
"""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest
from scanpy.metrics._gearys_c import _gearys_c_mtx, _gearys_c_mtx_csr
from scanpy.metrics._morans_i import _morans_i_mtx, _morans_i_mtx_csr
from scipy import sparse

from scanpy_kernels import UnsupportedInputError, as_matrix, metrics
from scanpy_kernels.metrics import autocorr
from scanpy_kernels.toolkit import thread_limit

#: (driver, scanpy's dense kernel, scanpy's CSR kernel)
METRICS = {
    "morans_i": (metrics.morans_i, _morans_i_mtx, _morans_i_mtx_csr),
    "gearys_c": (metrics.gearys_c, _gearys_c_mtx, _gearys_c_mtx_csr),
}


@pytest.fixture
def one_numba_thread():
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)


def _graph(rng, n, k=6, index=np.int32):
    rows = np.repeat(np.arange(n), k)
    g = sparse.csr_matrix((rng.random(n * k), (rows, rng.integers(0, n, n * k))), (n, n))
    g = (g + g.T).tocsr()
    g.indices, g.indptr = g.indices.astype(index), g.indptr.astype(index)
    return g


def _vals(rng, n_features=29, n_cells=211):
    """Features x cells: log-like values, sparse, a feature of one value, one with NaN.

    No constant feature: scanpy leaves those out before its kernels (which would
    raise ZeroDivisionError: numba's error model).
    """
    x = np.log1p(rng.negative_binomial(1, 0.3, (n_features, n_cells)).astype(np.float64))
    x[rng.random(x.shape) < 0.6] = 0.0
    x[4] = 0.0
    x[4, 5] = 2.0
    x[7, 3] = np.nan
    return x


def _expected(name, g, vals):
    """scanpy's kernels; a CSC ``vals`` transposed to CSR first, as scanpy's
    ``_resolve_vals`` did (the kernel layer reads it as it is)."""
    _, dense, csr = METRICS[name]
    return csr(g, vals.tocsr()) if sparse.issparse(vals) else dense(g, vals)


@pytest.mark.usefixtures("one_numba_thread")
@pytest.mark.parametrize("name", METRICS)
@pytest.mark.parametrize("layout", ["C", "F", "csr", "csr_array", "csc", "csc_array"])
@pytest.mark.parametrize("index", [np.int32, np.int64])
def test_equal_to_scanpys(name, layout, index):
    rng = np.random.default_rng(0)
    x = _vals(rng)
    g = _graph(rng, x.shape[1], index=index)
    vals = {
        "C": x,
        "F": np.asfortranarray(x),  # scanpy's vals: X.T
        "csr": sparse.csr_matrix(x),
        "csr_array": sparse.csr_array(x),
        "csc": sparse.csc_matrix(x),  # scanpy's vals for a CSR X: X.T
        "csc_array": sparse.csc_array(x),
    }[layout]
    if sparse.issparse(vals):
        vals.indices, vals.indptr = vals.indices.astype(index), vals.indptr.astype(index)
    m = as_matrix(vals, stored=True, strided=True)
    if m.fmt == "csc":  # scanpy's tocsr(), in parallel
        m = metrics.features_major(m)
    got = METRICS[name][0](m, as_matrix(g, stored=True))
    np.testing.assert_array_equal(got, _expected(name, g, vals), strict=True)


@pytest.mark.usefixtures("one_numba_thread")
@pytest.mark.parametrize("name", METRICS)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_odd_storage_as_scanpy(name, fmt):
    """Unsorted entries and duplicates: scanpy's scatter keeps the last value, Geary's
    sparse denominator sums every stored value, in stored order (a CSC ``vals``:
    after scanpy's ``tocsr()``); an unsorted graph with a duplicate edge is walked as
    stored."""
    rng = np.random.default_rng(1)
    x = _vals(rng)
    g = _graph(rng, x.shape[1])
    g.indices[g.indptr[3] : g.indptr[4]] = g.indices[g.indptr[3] : g.indptr[4]][::-1]
    g.indices[g.indptr[5] + 1] = g.indices[g.indptr[5]]
    vals = sparse.csr_matrix(x) if fmt == "csr" else sparse.csc_matrix(x)
    for k in (0, 2, 9):  # three rows (csr: features; csc: cells) reversed, one entry twice
        a, b = vals.indptr[k], vals.indptr[k + 1]
        vals.indices[a:b] = vals.indices[a:b][::-1].copy()
        vals.indices[a + 1] = vals.indices[a]  # cell stored twice
    vals.has_sorted_indices = False
    snapshot = (vals.data.copy(), vals.indices.copy(), g.indices.copy())
    m = as_matrix(vals, stored=True)
    if fmt == "csc":  # not canonical: the frontend keeps scanpy's tocsr()
        with pytest.raises(UnsupportedInputError):
            metrics.features_major(m)
        m = as_matrix(vals.tocsr(), stored=True)
    got = METRICS[name][0](m, as_matrix(g, stored=True))
    np.testing.assert_array_equal(got, _expected(name, g, vals), strict=True)
    np.testing.assert_array_equal(vals.data, snapshot[0])  # inputs untouched
    np.testing.assert_array_equal(vals.indices, snapshot[1])
    np.testing.assert_array_equal(g.indices, snapshot[2])


@pytest.mark.parametrize("kernel", ["morans_i", "gearys_c"])
@pytest.mark.parametrize("fmt", ["csr", "dense"])
def test_any_range_split_gives_the_same_bits(kernel, fmt):
    """Each feature's arithmetic is its own lane: ranges and block edges do not matter."""
    rng = np.random.default_rng(2)
    x = _vals(rng, n_features=37)
    g = _graph(rng, x.shape[1])
    k = getattr(autocorr, f"{kernel}_{fmt}")
    lead = as_matrix(sparse.csr_matrix(x) if fmt == "csr" else x).args
    graph = (g.data, g.indices, g.indptr, autocorr.graph_weight(g.data))
    whole = np.zeros(x.shape[0])
    k(*lead, *graph, 0, x.shape[0], whole)
    for cuts in ([0, 1, 37], [0, 5, 13, 14, 37], [0, 8, 16, 36, 37]):
        out = np.zeros(x.shape[0])
        for lo, hi in itertools.pairwise(cuts):
            k(*lead, *graph, lo, hi, out)
        np.testing.assert_array_equal(out, whole)


@pytest.mark.parametrize("name", METRICS)
def test_threads_do_not_change_bits(name):
    rng = np.random.default_rng(3)
    x = _vals(rng, n_features=50, n_cells=3000)
    g = _graph(rng, x.shape[1], k=20)
    args = (as_matrix(x, strided=True), as_matrix(g, stored=True))
    with thread_limit(1):
        one = METRICS[name][0](*args)
    with thread_limit(2):
        two = METRICS[name][0](*args)
    np.testing.assert_array_equal(one, two)


@pytest.mark.parametrize("name", METRICS)
def test_bad_structure_raises(name):
    rng = np.random.default_rng(4)
    x = _vals(rng)
    g = _graph(rng, x.shape[1])
    driver = METRICS[name][0]
    bad = g.copy()
    bad.indices[3] = x.shape[1]  # a neighbour outside the graph
    with pytest.raises(ValueError, match="index arrays are corrupt"):
        driver(as_matrix(x), as_matrix(bad, stored=True))
    vals = sparse.csr_matrix(x)
    vals.indices[2] = -1
    with pytest.raises(ValueError, match="index arrays are corrupt"):
        driver(as_matrix(vals, stored=True), as_matrix(g, stored=True))
    with pytest.raises(ValueError, match="CSR matrix of shape"):
        driver(as_matrix(x[:, :-1], strided=True), as_matrix(g, stored=True))
    with pytest.raises(ZeroDivisionError, match="division by zero"):
        driver(as_matrix(x), as_matrix(g * 0.0, stored=True))


@pytest.mark.usefixtures("one_numba_thread")
def test_weight_is_numbas_sum():
    """``graph_weight`` adds in order, as numba's ``sum`` (not numpy's pairwise sum)."""
    g_data = np.random.default_rng(5).random(100_001)
    seq = numba.njit(lambda a: a.sum())(g_data)
    assert autocorr.graph_weight(g_data) == seq
    assert np.sum(g_data) != seq  # numpy's pairwise sum: the test can tell them apart


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("threads", [1, 2])
def test_features_major_is_scipys_tocsr(dtype, index, threads):
    """scipy's ``tocsr().astype(np.float64)``, bit for bit, structure included."""
    rng = np.random.default_rng(6)
    x = _vals(rng, n_features=1000, n_cells=2000).astype(dtype)  # splits at 2 threads
    x[:, 11] = 0.0  # an empty cell
    vals = sparse.csc_matrix(x)
    vals.indices, vals.indptr = vals.indices.astype(index), vals.indptr.astype(index)
    with thread_limit(threads):
        m = metrics.features_major(as_matrix(vals, stored=True))
    ref = vals.tocsr().astype(np.float64)
    assert m.fmt == "csr"
    assert m.shape == ref.shape
    np.testing.assert_array_equal(m.data, ref.data, strict=True)
    np.testing.assert_array_equal(m.indices, ref.indices)
    np.testing.assert_array_equal(m.indptr, ref.indptr)


def test_features_major_refuses_what_scipy_keeps():
    """Unsorted runs and duplicates stay scanpy's (tocsr keeps them); corrupt raises."""
    x = sparse.csc_matrix(np.eye(4))
    with pytest.raises(UnsupportedInputError):
        metrics.features_major(as_matrix(x.tocsr(), stored=True))  # not CSC
    dup = sparse.csc_matrix((np.ones(3), [0, 0, 1], [0, 2, 3, 3, 3]), shape=(4, 4))
    with pytest.raises(UnsupportedInputError):
        metrics.features_major(as_matrix(dup, stored=True))
    bad = sparse.csc_matrix((np.ones(2), [0, 9], [0, 1, 2, 2, 2]), shape=(4, 4))
    with pytest.raises(ValueError, match="index arrays are corrupt"):
        metrics.features_major(as_matrix(bad, stored=True))
