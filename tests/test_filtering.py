"""``filtering.n_positive`` against scanpy 1.12.4's ``stats.sum(x > 0, axis=axis)``.

Counts are integers: every comparison is exact, dtype included.  The reference runs on
a copy (scipy's ``x > 0`` sums the caller's duplicates in place); the kernel layer's
input is checked to be untouched, cached scipy flags included.
"""

from __future__ import annotations

import numpy as np
import pytest
from fast_array_utils import stats
from scipy import sparse

from scanpy_kernels import UnsupportedInputError, as_matrix, filtering

CLASSES = (sparse.csr_matrix, sparse.csr_array, sparse.csc_matrix, sparse.csc_array)


def _values(rng, n_rows=70, n_cols=40, density=0.3):
    x = rng.negative_binomial(1, 0.4, (n_rows, n_cols)).astype(np.float64)
    x[rng.random(x.shape) > density] = 0.0
    x[3] = 0.0  # an empty row
    x[:, 5] = 0.0  # an empty column
    return x


def _expected(x, axis):
    return stats.sum(x.copy() > 0, axis=axis)


def _check(x, axis):
    snapshot = (x.data.copy(), x.indices.copy(), x.indptr.copy(), dict(vars(x)))
    got = filtering.n_positive(as_matrix(x, stored=True, convert=True), axis=axis)
    np.testing.assert_array_equal(got, _expected(x, axis), strict=True)
    for before, after in zip(snapshot[:3], (x.data, x.indices, x.indptr), strict=True):
        np.testing.assert_array_equal(after, before, strict=True)
    assert vars(x).keys() == snapshot[3].keys()  # no scipy flag cached or dropped


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64, bool])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("axis", [0, 1])
def test_counts_equal_scanpys(cls, dtype, index, axis):
    rng = np.random.default_rng(0)
    x = cls(_values(rng).astype(dtype))
    x.indices, x.indptr = x.indices.astype(index), x.indptr.astype(index)
    _check(x, axis)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("axis", [0, 1])
def test_values_that_do_not_count(cls, axis):
    """Explicit zeros, -0.0, negatives, NaN and -inf are stored but not positive."""
    rng = np.random.default_rng(1)
    x = cls(_values(rng))
    picks = rng.choice(x.nnz, 25, replace=False)
    x.data[picks] = np.resize([0.0, -0.0, -1.5, np.nan, -np.inf], picks.size)
    _check(x, axis)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("axis", [0, 1])
def test_unsorted_and_duplicate_entries(cls, axis):
    """Duplicates count once, by the sign of their sum (scipy's ``sum_duplicates``)."""
    rng = np.random.default_rng(2)
    y = cls(_values(rng))
    data, indices, indptr = y.data.copy(), y.indices.copy(), y.indptr.copy()
    for i in range(indptr.size - 1):  # reverse every row: unsorted
        s, e = indptr[i], indptr[i + 1]
        data[s:e], indices[s:e] = data[s:e][::-1], indices[s:e][::-1]
    # each stored entry of the first stored rows again, with values of both signs:
    # sums positive, zero (1 - 1) and negative (2 - 3)
    n_dup = int(indptr[4])
    extra = np.resize([1.0, -1.0, -3.0, 0.5], n_dup) * np.where(data[:n_dup] > 1, 1, -1)
    coo_data = np.concatenate([data, extra])
    major = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    coo_major = np.concatenate([major, major[:n_dup]])
    coo_minor = np.concatenate([indices, indices[:n_dup]])
    order = np.argsort(coo_major, kind="stable")
    dup_ptr = np.concatenate([[0], np.cumsum(np.bincount(coo_major, minlength=indptr.size - 1))])
    x = cls((coo_data[order], coo_minor[order], dup_ptr), shape=y.shape)
    assert x.nnz > y.nnz
    _check(x, axis)
    _check(cls((data, indices, indptr), shape=y.shape), axis)  # unsorted only


@pytest.mark.parametrize("shape", [(0, 4), (4, 0), (3, 5)])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_empty(shape, fmt):
    for axis in (0, 1):
        _check(sparse.random(*shape, density=0.0, format=fmt), axis)


@pytest.mark.parametrize("bad", [-1, 99])
def test_index_outside_the_matrix_raises(bad):
    x = sparse.csr_array(_values(np.random.default_rng(3)))
    x.indices[7] = bad
    with pytest.raises(ValueError, match="corrupt"):
        filtering.n_positive(as_matrix(x, stored=True), axis=0)


def test_dense_arrays_are_scanpys():
    with pytest.raises(UnsupportedInputError, match="dense"):
        filtering.n_positive(as_matrix(np.ones((2, 2))), axis=0)


def test_counts_past_float32s_last_whole_number():
    """A gene in 2**24 + 3 cells: float32 adds stop at 2**24, so the count is float64."""
    n_rows = 2**24 + 3
    x = sparse.csr_array(
        (
            np.ones(n_rows, np.float32),
            np.zeros(n_rows, np.int32),
            np.arange(n_rows + 1, dtype=np.int32),
        ),
        shape=(n_rows, 2),
    )
    got = filtering.n_positive(as_matrix(x, stored=True), axis=0)
    np.testing.assert_array_equal(got, np.array([n_rows, 0]), strict=True)
