"""The QC kernels (``scanpy_kernels.qc``) against scanpy 1.12.4's ``describe_obs``/``_var``.

Every comparison is bitwise (``np.array_equal``, dtypes included): the kernels
reproduce scipy's reduceat and matvec orders and numba's partition order, so any
difference is a bug.  scanpy's functions are called on the same matrix after its own
``eliminate_zeros``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from scanpy_kernels import UnsupportedInputError, as_matrix, qc
from scanpy_kernels._pairwise import STACK, reduceat_sum
from scanpy_kernels.toolkit import kernel, thread_limit

pristine_qc = pytest.importorskip("scanpy.preprocessing._qc")
from fast_array_utils import stats  # noqa: E402 (scanpy's dependency)
from scanpy._utils import axis_nnz  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::scipy.sparse.SparseEfficiencyWarning")

NS = [[50, 100, 200, 500], [1], [3, 3, 7], [10, 1]]


def _matrix(rng, n_rows, n_cols, density, dtype, *, integral=False):
    x = sparse.random(n_rows, n_cols, density=density, format="csr", random_state=rng)
    x.data = x.data * 1000.0
    if integral:
        x.data = np.ceil(x.data)
    x = x.astype(dtype)
    x.eliminate_zeros()
    return x


def _expected_obs(x, masks, ns):
    totals = stats.sum(x, axis=1)
    masked = [stats.sum(x[:, mask], axis=1) for mask in masks]
    with np.errstate(all="ignore"):
        top = pristine_qc.top_segment_proportions(x, ns) if len(ns) else None
    return totals, masked, top


def _check_obs(x, masks, ns, fmt="csr"):
    """``x``: CSR; ``fmt="dense"`` checks its dense array (scanpy's numpy paths)."""
    x = x.toarray() if fmt == "dense" else x
    got = qc.obs_sums(as_matrix(x), masks, ns)
    totals, masked, top = _expected_obs(x, masks, ns)
    assert got.totals.dtype == totals.dtype
    np.testing.assert_array_equal(got.totals, totals, strict=True)
    for q, want in enumerate(masked):
        np.testing.assert_array_equal(got.masked[q], want, strict=True)
    if top is not None:
        np.testing.assert_array_equal(got.top, top, strict=True)
    return got


FMTS = ["csr", "dense"]


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("ns", NS, ids=str)
@pytest.mark.parametrize("integral", [False, True], ids=["real", "counts"])
def test_obs_sums_equal_scanpy(fmt, dtype, ns, integral):
    rng = np.random.default_rng(len(ns) + integral)
    # 2,000 genes at 40%: ~800 values a row (pairwise sums recurse 3 levels)
    x = _matrix(rng, 400, 2000, 0.4, dtype, integral=integral)
    x[7] = 0.0  # an empty row: 0 / 0 in the fractions (NaN, as scanpy)
    x[8, :1990] = 0.0  # fewer values than max(ns): the zero-padded branch
    x.eliminate_zeros()
    masks = rng.random((3, 2000)) < [[0.01], [0.3], [0.0]]  # the last: no genes
    _check_obs(x, masks, ns, fmt)


def test_obs_sums_long_rows_and_thread_counts():
    """Rows of 20k values (pairwise depth 8); 1 thread and all give the same bits."""
    rng = np.random.default_rng(3)
    x = _matrix(rng, 24, 40_000, 0.5, np.float32)
    masks = rng.random((1, 40_000)) < 0.05
    got = _check_obs(x, masks, [50, 100, 200, 500])
    with thread_limit(1):
        one = qc.obs_sums(as_matrix(x), masks, [50, 100, 200, 500])
    for a, b in zip(got, one, strict=True):
        np.testing.assert_array_equal(a, b, strict=True)


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_obs_sums_special_values(fmt, dtype):
    """NaN, inf, -0.0, negatives and ties: numba's NaN-aware partition order."""
    rng = np.random.default_rng(5)
    x = _matrix(rng, 200, 600, 0.5, dtype, integral=True)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, -3.0, 5.0, 5.0], dtype)
    where = rng.integers(0, x.nnz, 300)
    x.data[where] = rng.choice(specials, where.size)
    masks = rng.random((2, 600)) < 0.3
    for ns in ([1], [5, 50, 100], [300]):
        _check_obs(x, masks, ns, fmt)


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_var_sums_equal_scanpy(fmt, dtype):
    rng = np.random.default_rng(7)
    x = _matrix(rng, 3000, 300, 0.2, dtype)
    x[:, 11] = 0.0  # an empty gene
    x.eliminate_zeros()
    # negatives, NaN and -0.0 (not eliminated as zeros) count as nonzero
    x.data[::17] = np.array([0.0, -2.0, np.nan, -0.0], dtype)[np.arange(x.data[::17].size) % 4]
    x = x.toarray() if fmt == "dense" else x
    got = qc.var_sums(as_matrix(x))
    np.testing.assert_array_equal(got.totals, stats.sum(x, axis=0), strict=True)
    np.testing.assert_array_equal(got.n_cells, axis_nnz(x, axis=0), strict=True)
    # describe_var's mean: stats.mean = the same sum / n_cells
    np.testing.assert_array_equal(got.totals / x.shape[0], stats.mean(x, axis=0), strict=True)


def test_csc_keeps_scanpys_code():
    m = as_matrix(sparse.random(5, 4, density=0.5, format="csc"))
    with pytest.raises(UnsupportedInputError, match="CSC"):
        qc.obs_sums(m, [], [1])
    with pytest.raises(UnsupportedInputError, match="CSC"):
        qc.var_sums(m)


@pytest.mark.parametrize(
    "mask", [np.array([1, 0, 1, 0]), np.array([True, False]), [True, False, True, False]]
)
def test_masks_other_than_bool_arrays_keep_scanpys_code(mask):
    """scanpy indexes ``x[:, mask]`` with what it is given (positions for integers)."""
    m = as_matrix(sparse.random(5, 4, density=0.5, format="csr"))
    with pytest.raises(UnsupportedInputError, match="bool"):
        qc.obs_sums(m, [mask], [1])


@kernel(signatures=["float32(float32[::1], int64)", "float64(float64[::1], int64)"], parallel=False)
def _reduceat(v, n):
    return reduceat_sum(v, n, np.empty(STACK, np.float64))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduceat_sum_is_numpys(dtype):
    """Every run length up to 1,100 and some long ones: ``np.add.reduceat``'s bits."""
    rng = np.random.default_rng(11)
    for n in [*range(1100), 4097, 65_537, 300_001]:
        v = (rng.random(n) * 10.0 ** rng.integers(-3, 8, n)).astype(dtype)
        want = np.add.reduceat(v, [0])[0] if n else dtype(0)
        got = _reduceat(v, n)
        assert got == want or (np.isnan(got) and np.isnan(want)), n
        assert np.signbit(got) == np.signbit(want), n


@pytest.mark.parametrize("fmt", FMTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_obs_sums_both_roads_for_counts(fmt, dtype):
    """Whole counts take the histogram road unless big values or a big sum forbid it.

    Rows: small counts (histogram), up to 64 counts >= 1024 (sorted list), more than 64
    (quickselect), a sum just above 2**24 (quickselect for float32: sums may round) and
    just below it; each against scanpy's numba partition.
    """
    rng = np.random.default_rng(13)
    n_cols = 3000
    x = np.zeros((6, n_cols))
    cols = [rng.choice(n_cols, 900, replace=False) for _ in range(6)]
    x[0, cols[0]] = rng.integers(1, 30, 900)  # ones included
    x[1, cols[1]] = rng.integers(1, 30, 900)
    x[1, cols[1][:60]] = rng.integers(1024, 5000, 60)
    x[2, cols[2]] = rng.integers(1000, 5000, 900)
    x[3, cols[3]] = 2**24 // 900 + 1 + rng.integers(0, 3, 900)
    x[4, cols[4]] = 2**24 // 900 - 3 + rng.integers(0, 3, 900)
    x[4, cols[4][:3]] += 0.5  # not whole: quickselect
    x[5, cols[5]] = 2**24 // 900 - 3 + rng.integers(0, 3, 900)
    masks = rng.random((1, n_cols)) < 0.2
    for ns in ([1, 50, 100, 200, 500], [899, 900, 901], [7, 7, 3000]):
        _check_obs(sparse.csr_matrix(x.astype(dtype)), masks, ns, fmt)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_row_array_masked_sums_are_pairwise(dtype):
    """One cell: ``x[:, mask]`` is C-contiguous, so numpy sums it pairwise, not in order."""
    rng = np.random.default_rng(12)
    x = (rng.random((1, 5000)) * 100).astype(dtype)
    masks = [rng.random(5000) < 0.5, np.zeros(5000, bool)]
    got = qc.obs_sums(as_matrix(x), masks, [])
    for q, mask in enumerate(masks):
        want = stats.sum(x[:, mask], axis=1)
        np.testing.assert_array_equal(got.masked[q], want, strict=True)
