"""``aggregate`` drivers against scanpy 1.12.4's ``Aggregate``, every format, bit for bit.

scanpy's ``Aggregate`` (``scanpy.get._aggregated``) is the reference: its ``sum``,
``count_nonzero``, ``mean_var(dof=0)`` and ``median`` on the same matrix, groups and
mask.  Inputs carry what makes the formulas differ: negatives, ties, stored zeros, NaN,
an all-zero column, rows in no group, a group the mask empties, even and odd group
sizes.
"""

from __future__ import annotations

import itertools
from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest
from scanpy.get._aggregated import Aggregate
from scipy import sparse

from scanpy_kernels import aggregate, as_matrix
from scanpy_kernels.toolkit import thread_limit

FORMATS = ("csr", "csc", "dense")
DTYPES = (np.float32, np.float64)


def _matrix(rng, fmt, dtype, index=np.int32, n_obs=203, n_vars=41, density=0.3):
    x = np.round(rng.normal(0.5, 1.5, (n_obs, n_vars)), 1)  # ties, negatives
    x[rng.random(x.shape) > density] = 0.0
    x[:, 2] = 0.0
    x[:, 5] = rng.integers(1, 4, n_obs)  # dense column: medians among the values
    x[rng.integers(0, n_obs, 4), [6, 6, 7, 8]] = np.nan
    x = x.astype(dtype)
    if fmt == "dense":
        return x
    m = (sparse.csr_matrix if fmt == "csr" else sparse.csc_matrix)(x)
    m.data[rng.random(m.nnz) < 0.05] = 0.0  # stored zeros
    m.indices, m.indptr = m.indices.astype(index), m.indptr.astype(index)
    return m


def _groups(rng, n_obs, n_groups=5):
    """A categorical with unassigned (NaN) rows and a mask that empties group 4."""
    codes = rng.integers(-1, n_groups, n_obs)
    cat = pd.Categorical.from_codes(codes, [f"g{i}" for i in range(n_groups)])
    mask = rng.random(n_obs) < 0.85
    mask[codes == 4] = False
    return cat, mask


def _codes(cat, mask):
    codes = cat.codes.astype(np.int64)
    return np.where(mask, codes, -1) if mask is not None else codes


def _same(a, b):
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b, strict=False)
    assert np.array_equal(a, b, equal_nan=True)


#: (format, dtype, index dtype, masked); a dense matrix has no index dtype
CASES = [
    c
    for c in itertools.product(FORMATS, DTYPES, (np.int32, np.int64), (False, True))
    if not (c[0] == "dense" and c[2] is np.int64)
]


def _inputs(seed, fmt, dtype, index=np.int32, *, masked=True, **shape):
    """``(x, cat, mask)`` for scanpy and ``(m, codes, n_groups)`` for the drivers."""
    rng = np.random.default_rng(seed)
    x = _matrix(rng, fmt, dtype, index, **shape)
    cat, mask = _groups(rng, x.shape[0])
    mask = mask if masked else None
    return (x, cat, mask), (as_matrix(x), _codes(cat, mask), len(cat.categories))


@pytest.mark.parametrize(("fmt", "dtype", "index", "masked"), CASES)
def test_sums_count_nonzero(fmt, dtype, index, masked):
    (x, cat, mask), args = _inputs(7, fmt, dtype, index, masked=masked)
    agg = Aggregate(cat, x, mask=mask)
    sums, nnz = aggregate.sums(*args)
    _same(sums, agg.sum())
    _same(nnz, np.asarray(agg.count_nonzero(), dtype=np.int64))


@pytest.mark.parametrize(("fmt", "dtype", "index", "masked"), CASES)
def test_mean_var(fmt, dtype, index, masked):
    (x, cat, mask), args = _inputs(8, fmt, dtype, index, masked=masked)
    mean, var = Aggregate(cat, x, mask=mask).mean_var(dof=0)
    got = aggregate.mean_var(*args)
    _same(got[0], mean)
    _same(got[1], var)


@pytest.mark.parametrize(("fmt", "dtype", "index", "masked"), CASES)
def test_medians(fmt, dtype, index, masked):
    """Values equal scanpy's (sklearn's sparse rule, numpy's dense one), NaN included."""
    (x, cat, mask), args = _inputs(9, fmt, dtype, index, masked=masked)
    # a group the mask empties: numpy warns (dense)
    warns = pytest.warns(RuntimeWarning) if masked and fmt == "dense" else nullcontext()
    with np.errstate(invalid="ignore"), warns:
        want = Aggregate(cat, x, mask=mask).median()
    got = aggregate.medians(*args)
    assert got.dtype == dtype
    _same(got.astype(want.dtype), want)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("n_obs", [1, 2, 3, 4, 64, 65])
def test_medians_small_groups(fmt, n_obs):
    """One group of ``n_obs`` rows: every rank position (negatives, zeros, positives)."""
    rng = np.random.default_rng(n_obs)
    for _ in range(20):
        x = rng.choice([-3.5, -1.0, 0.0, 0.0, 2.0, 2.5, 7.0], (n_obs, 9)).astype(np.float32)
        x[:, 0] = 0.0
        x[:, 1] = rng.normal(size=n_obs)  # no ties
        x[:, 2] = rng.normal(size=n_obs) - 3  # all negative
        m = x if fmt == "dense" else sparse.csr_matrix(x).asformat(fmt)
        cat = pd.Categorical.from_codes(np.zeros(n_obs, int), ["a"])
        want = Aggregate(cat, m).median()
        got = aggregate.medians(as_matrix(m), np.zeros(n_obs, np.int64), 1)
        _same(got.astype(want.dtype), want)


def test_medians_float32_mean_of_two():
    """The mean of the two middle values is taken in float32, as sklearn and numpy do."""
    a, b = np.float32(16777216.0), np.float32(3.0)  # a + b is not a float32
    x = np.array([[a], [b]], np.float32)
    cat = pd.Categorical.from_codes([0, 0], ["a"])
    for m in (x, sparse.csr_matrix(x)):
        want = Aggregate(cat, m).median()
        got = aggregate.medians(as_matrix(m), np.zeros(2, np.int64), 1)
        assert got[0, 0] == want[0, 0] == np.float32((a + b) / np.float32(2))
        assert got[0, 0] != (np.float64(a) + np.float64(b)) / 2


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_thread_count_does_not_change_bits(fmt, threads):
    _, args = _inputs(3, fmt, np.float32, n_obs=500, n_vars=67)

    def run():
        return (*aggregate.sums(*args), *aggregate.mean_var(*args)[:2], aggregate.medians(*args))

    ref = run()
    with thread_limit(threads):
        got = run()
    for a, b in zip(got, ref, strict=True):
        _same(a, b)


@pytest.mark.parametrize("fmt", FORMATS)
def test_inputs_unchanged(fmt):
    (x, _, _), args = _inputs(4, fmt, np.float64)
    before = x.copy()
    aggregate.medians(*args)
    aggregate.sums(*args)
    aggregate.mean_var(*args)
    if fmt == "dense":
        _same(x, before)
    else:
        for name in ("data", "indices", "indptr"):
            _same(getattr(x, name), getattr(before, name))


@pytest.mark.parametrize("fmt", FORMATS)
def test_medians_without_values(fmt):
    """No median among the values (all 0 or NaN): the kernels skip the second pass."""
    rng = np.random.default_rng(11)
    x = np.where(rng.random((60, 8)) < 0.2, rng.normal(size=(60, 8)), 0.0)
    x[::6, 3] = np.nan  # dense: NaN; sparse: ranks last, the median is 0
    m = x if fmt == "dense" else sparse.csr_matrix(x).asformat(fmt)
    codes = rng.integers(0, 3, 60)
    cat = pd.Categorical.from_codes(codes, ["a", "b", "c"])
    want = Aggregate(cat, m).median()
    got = aggregate.medians(as_matrix(m), codes.astype(np.int64), 3)
    _same(got.astype(want.dtype), want)
    assert np.isnan(got[:, 3]).all() == (fmt == "dense")
