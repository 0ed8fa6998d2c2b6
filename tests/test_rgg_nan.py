"""NaN values in the Wilcoxon test: the ranks scanpy 1.12.4 gave them, in any group mix.

scanpy ranks each NaN as a tie block of its own after every number, in the order its
(unstable) quicksort leaves them; the kernels rank them by row and the driver moves
the ranks to scanpy's order (``rank_genes_groups.nan_ranks``). These cases put NaNs of
one gene in several groups, the remainder and the reference, where the order changes
the rank sums (without the driver's step they differ from scanpy's in most genes).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from scanpy_kernels.rank_genes_groups import nan_rank_sums
from scanpy_kernels.rank_genes_groups.nan_ranks import _argsort

from .test_rgg_kernels import (
    CASE_IDS,
    CASES,
    SETUP_IDS,
    SETUPS,
    as_format,
    make_data,
    match_pristine_tests,
)


def _nan_data(seed):
    """``make_data`` with NaNs in ~15% of the cells of 30 genes (every group)."""
    x, obs = make_data(seed, negative=True)
    rng = np.random.default_rng(seed)
    block = x[:, 10:40]
    block[rng.random(block.shape) < 0.15] = np.nan
    x[:, 40] = np.where(rng.random(x.shape[0]) < 0.5, np.nan, 0.0)  # NaN or zero
    return x, obs


@pytest.mark.parametrize(("groupby", "groups", "reference"), SETUPS, ids=SETUP_IDS)
@pytest.mark.parametrize(("fmt", "dtype", "index_dtype"), CASES, ids=CASE_IDS)
def test_nan_in_many_groups_match_pristine(fmt, dtype, index_dtype, groupby, groups, reference):
    x, obs = _nan_data(4)
    xm = as_format(x, fmt, dtype, index_dtype)
    tests = [("wilcoxon", False), ("wilcoxon", True)]
    match_pristine_tests(xm, obs, (groupby, groups, reference), tests)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_rank_sums_is_scanpys_rankdata(dtype):
    """The kernel's NaN rank sums equal those of scanpy's ``rankdata`` on the column."""
    from scanpy.tools._rank_genes_groups import rankdata

    rng = np.random.default_rng(5)
    for n in (5, 40, 300, 5000):  # insertion sort, and quicksort partitions
        values = np.round(rng.normal(0.0, 1.0, n), 1).astype(dtype)
        values[rng.random(n) < 0.4] = 0.0
        values[rng.random(n) < 0.3] = np.nan
        slots = rng.integers(0, 4, n).astype(np.int64)
        ranks = rankdata(values[:, None])[:, 0]
        nan = np.isnan(values)
        want = np.bincount(slots[nan], weights=ranks[nan], minlength=4)
        np.testing.assert_array_equal(nan_rank_sums(values, slots, 4), want)


@numba.njit
def _numba_argsort(a):
    return np.argsort(a)


@numba.njit
def _ours(a):
    return _argsort(a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argsort_is_numbas_quicksort(dtype):
    """The same permutation as numba's ``np.argsort``: ties, NaNs, sorted runs, sizes."""
    rng = np.random.default_rng(6)
    for n in (0, 1, 2, 14, 15, 16, 17, 100, 1000, 20000):
        for kind in ("ties", "nan", "sorted", "reversed", "constant"):
            a = np.round(rng.normal(0.0, 1.0, n), 1)
            if kind == "nan":
                a[rng.random(n) < 0.3] = np.nan
            elif kind == "sorted":
                a.sort()
            elif kind == "reversed":
                a = a[np.argsort(-a, kind="stable")]
            elif kind == "constant":
                a[:] = 2.0
            a = a.astype(dtype)
            np.testing.assert_array_equal(_ours(a), _numba_argsort(a), err_msg=f"{n} {kind}")
