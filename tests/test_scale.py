"""The scale kernels (``scanpy_kernels.scale``) against scanpy 1.12.4's ``scale_array``.

Every comparison is bitwise (``assert_array_equal(strict=True)``, dtypes included):
the kernels run scanpy's operations in its order (``todense`` adding stored values
in the data dtype, then float64 ``(x - mean) / std``, clipping; or the in-place
quotient and numba's ``min``), so any difference is a bug.  scanpy's function runs on
a copy of the same matrix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import sparse

from scanpy_kernels import UnsupportedInputError, as_matrix, scale
from scanpy_kernels.toolkit import thread_limit

pristine = pytest.importorskip("scanpy.preprocessing._scale")

pytestmark = pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")


def _logged(rng, n_rows, n_cols, density, dtype, index=np.int32):
    x = sparse.random(n_rows, n_cols, density=density, format="csr", random_state=rng)
    x.data = np.log1p(np.ceil(x.data * 30.0))
    x[3] = 0.0  # an empty cell
    x[:, 5] = 0.0  # a gene without values: std 0 -> 1
    x[:, 6] = 2.0  # a constant gene
    x.eliminate_zeros()
    x = x.astype(dtype)
    x.indices, x.indptr = x.indices.astype(index), x.indptr.astype(index)
    return x


def _expected(x, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "densifies it"
        return pristine.scale_array(x.copy(), return_mean_std=True, **kw)


def _check(x, **kw):
    before = x.copy()
    want, mean, std = _expected(x, **kw)
    y = x.copy()
    got = scale.scale(as_matrix(y, stored=True), **kw)
    np.testing.assert_array_equal(got.mean, mean, strict=True)
    np.testing.assert_array_equal(got.std, std, strict=True)
    if kw.get("zero_center", True):
        np.testing.assert_array_equal(got.dense, want, strict=True)
        np.testing.assert_array_equal(y.data, before.data, strict=True)  # untouched
    else:
        assert got.dense is None
        np.testing.assert_array_equal(y.data, want.data, strict=True)  # in place
    np.testing.assert_array_equal(x.data, before.data, strict=True)
    return got


PARAMS = [
    {},
    {"max_value": 2.0},
    {"max_value": 10},
    {"max_value": 0.0},
    {"zero_center": False},
    {"zero_center": False, "max_value": 1.5},
    {"zero_center": False, "max_value": 0},
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", [np.int32, np.int64])
@pytest.mark.parametrize("kw", PARAMS, ids=str)
def test_scale_equals_scanpy(dtype, index, kw):
    x = _logged(np.random.default_rng(3), 300, 120, 0.2, dtype, index)
    _check(x, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kw", PARAMS, ids=str)
def test_dense_in_place_equals_scanpy(dtype, kw):
    x = _logged(np.random.default_rng(9), 300, 120, 0.2, dtype).toarray()
    x[[0, 4], [2, 9]] = [np.nan, -np.inf]
    want, mean, std = _expected(x, **kw)
    y = x.copy()
    got = scale.scale(as_matrix(y), **kw)
    assert got.dense is y  # in place, as scanpy
    np.testing.assert_array_equal(y, want, strict=True)
    np.testing.assert_array_equal(got.mean, mean, strict=True)
    np.testing.assert_array_equal(got.std, std, strict=True)


def test_unsorted_rows_as_scanpy():
    x = _logged(np.random.default_rng(4), 200, 90, 0.3, np.float32)
    for i in range(0, 200, 3):
        s, e = x.indptr[i], x.indptr[i + 1]
        x.indices[s:e] = x.indices[s:e][::-1].copy()
        x.data[s:e] = x.data[s:e][::-1].copy()
    x.has_sorted_indices = False
    for kw in PARAMS:
        _check(x, **kw)


def test_special_values():
    x = _logged(np.random.default_rng(5), 100, 60, 0.3, np.float64)
    x.data[[0, 7, 20]] = [np.nan, np.inf, -4.0]
    for kw in PARAMS:
        _check(x, **kw)


def test_thread_counts_agree():
    x = _logged(np.random.default_rng(6), 3000, 200, 0.1, np.float32)
    for kw in ({"max_value": 3.0}, {"zero_center": False, "max_value": 3.0}):
        results = []
        for n in (1, 2):
            y = x.copy()
            with thread_limit(n):
                got = scale.scale(as_matrix(y, stored=True), **kw)
            results.append((got.dense, y.data))
        for a, b in zip(*results, strict=True):
            np.testing.assert_array_equal(a, b, strict=True)


def test_other_inputs_keep_scanpys_code():
    x = _logged(np.random.default_rng(7), 40, 30, 0.3, np.float32)
    with pytest.raises(UnsupportedInputError, match="CSR"):
        scale.scale(as_matrix(x.tocsc(), stored=True))
    dup = x.copy()
    s = dup.indptr[1]
    dup.indices[s + 1] = dup.indices[s]  # row 1 stores a gene twice
    with pytest.raises(UnsupportedInputError, match="duplicate"):
        scale.scale(as_matrix(dup, stored=True))
    with pytest.raises(UnsupportedInputError, match="max_value"):
        scale.scale(as_matrix(x, stored=True), max_value="1")


def test_corrupt_indices_raise():
    x = _logged(np.random.default_rng(8), 40, 30, 0.3, np.float32)
    x.indices[5] = 30
    with pytest.raises(ValueError, match="corrupt"):
        scale.scale(as_matrix(x, stored=True))
