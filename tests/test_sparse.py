"""Tests for :mod:`scanpy_kernels.sparse`: zero-copy numba views over CSR/CSC.

The example kernels below are what kernel authors would write: they iterate
rows with ``v.row(i)`` and map columns with ``v.col(j)``, whatever the view kind.
Results are compared exactly (integer-valued data) with dense references.
"""

from __future__ import annotations

import copy
import gc
import pickle
import re
import subprocess
import sys
import textwrap
import tracemalloc

import numba
import numpy as np
import psutil
import pytest
from numba import njit, prange
from scipy import sparse

from scanpy_kernels.sparse import (
    CSRView,
    check_canonical,
    csc_view,
    csr_view,
    vstack_view,
)

# --- example kernels ----------------------------------------------------------------


def _row_stats(v):
    """Per-row sum and stored-entry count over kept columns (prange over rows)."""
    sums = np.zeros(v.n_rows)
    counts = np.zeros(v.n_rows, dtype=np.int64)
    for i in prange(v.n_rows):
        data, idx = v.row(i)
        acc = 0.0
        n = 0
        for k in range(data.size):
            if v.col(idx[k]) >= 0:
                acc += data[k]
                n += 1
        sums[i] = acc
        counts[i] = n
    return sums, counts


# Parallel compilation is ~2x slower: the serial twin runs the broad matrix of
# cases, the parallel one every view type (see ``test_view_kinds``).
row_stats = njit(_row_stats)
row_stats_parallel = njit(parallel=True)(_row_stats)


@njit
def col_stats(v):
    """Per-column sum and stored-entry count, columns mapped with ``v.col``."""
    sums = np.zeros(v.n_cols)
    counts = np.zeros(v.n_cols, dtype=np.int64)
    for i in range(v.n_rows):
        data, idx = v.row(i)
        for k in range(data.size):
            j = v.col(idx[k])
            if j >= 0:
                sums[j] += data[k]
                counts[j] += 1
    return sums, counts


@njit
def get_row(v, i):
    """The row slices exactly as kernels see them."""
    return v.row(i)


@njit(parallel=True)
def thread_of_row(v):
    """Which thread processed each row."""
    out = np.empty(v.n_rows, dtype=np.int64)
    for i in prange(v.n_rows):
        out[i] = numba.get_thread_id() + 0 * v.row_nnz(i)
    return out


@njit(fastmath=True)
def total(v):
    """Sum of kept entries (serial, vectorizable inner loop)."""
    acc = 0.0
    for i in range(v.n_rows):
        data, idx = v.row(i)
        for k in range(data.size):
            if v.col(idx[k]) >= 0:
                acc += data[k]
    return acc


@njit
def col_of(v, j):
    return v.col(j)


# --- test data ----------------------------------------------------------------------


def with_index_dtype(x, index_dtype):
    """Force the index dtype of a CSR/CSC matrix (scipy may choose another one)."""
    x.indices = x.indices.astype(index_dtype)
    x.indptr = x.indptr.astype(index_dtype)
    return x


def make_csr(n_rows, n_cols, *, dtype, index_dtype, seed, density=0.3):
    """Random canonical CSR array with empty rows/columns and explicit zeros.

    Returns the matrix, its dense values and its dense stored-entry pattern.
    """
    rng = np.random.default_rng(seed)
    stored = rng.random((n_rows, n_cols)) < density
    stored[::7] = False  # empty rows
    stored[:, ::11] = False  # empty columns
    vals = np.where(stored, rng.integers(1, 10, size=stored.shape), 0).astype(float)
    vals[stored & (rng.random(stored.shape) < 0.1)] = 0  # explicit zeros
    rows, cols = np.nonzero(stored)  # row-major: sorted columns within rows
    indptr = np.zeros(n_rows + 1, dtype=index_dtype)
    np.cumsum(stored.sum(axis=1), out=indptr[1:])
    x = sparse.csr_array(
        (vals[rows, cols].astype(dtype), cols.astype(index_dtype), indptr),
        shape=(n_rows, n_cols),
    )
    return with_index_dtype(x, index_dtype), vals, stored


def assert_view_matches(v, vals, stored):
    """Check a view against the dense values/pattern of the matrix it represents."""
    assert isinstance(v, CSRView)
    assert v.shape == vals.shape
    assert v.nnz == stored.sum()
    sums, counts = row_stats(v)
    np.testing.assert_array_equal(sums, vals.sum(axis=1))
    np.testing.assert_array_equal(counts, stored.sum(axis=1))
    sums, counts = col_stats(v)
    np.testing.assert_array_equal(sums, vals.sum(axis=0))
    np.testing.assert_array_equal(counts, stored.sum(axis=0))
    m = v.to_scipy()
    np.testing.assert_array_equal(m.toarray(), vals)
    pattern = sparse.csr_array((np.ones(m.nnz), m.indices, m.indptr), shape=m.shape)
    np.testing.assert_array_equal(pattern.toarray() > 0, stored)


def snapshot(x):
    return {
        name: (arr, arr.dtype, arr.tobytes())
        for name, arr in (
            ("data", x.data),
            ("indices", x.indices),
            ("indptr", x.indptr),
        )
    }


def assert_unchanged(x, snap, attrs):
    """The matrix's arrays are the same objects, dtypes and bytes; no attribute added."""
    for name, (arr, dtype, raw) in snap.items():
        now = getattr(x, name)
        assert now is arr, f"{name} was replaced"
        assert now.dtype == dtype, f"{name} dtype changed"
        assert now.tobytes() == raw, f"{name} was modified"
    assert set(vars(x)) == attrs, "attributes (e.g. scipy format flags) were set"


FORMATS = {
    "csr_matrix": (sparse.csr_matrix, csr_view, False),
    "csr_array": (sparse.csr_array, csr_view, False),
    "csc_matrix": (sparse.csc_matrix, csc_view, True),
    "csc_array": (sparse.csc_array, csc_view, True),
}
DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]


# --- full views: every input format and dtype -----------------------------------------


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_full_view(fmt, dtype, index_dtype):
    cls, view_fn, transposed = FORMATS[fmt]
    base, vals, stored = make_csr(30, 20, dtype=dtype, index_dtype=index_dtype, seed=1)
    x = with_index_dtype(cls(base), index_dtype)
    snap, attrs = snapshot(x), set(vars(x))

    v = view_fn(x)
    assert v.dtype == dtype
    assert v.index_dtype == index_dtype
    assert v.transposed is transposed
    if transposed:  # rows of a CSC view are the matrix columns
        vals, stored = vals.T, stored.T
        # ... and it is the same numba type as a CSR view of the transpose
        # (scipy's ``.T`` may downcast int64 indices: force them back).
        xt = with_index_dtype(x.T, index_dtype)
        assert numba.typeof(v) == numba.typeof(csr_view(xt))
    assert_view_matches(v, vals, stored)

    # What the kernel sees is the caller's memory (full view and row range).
    for w, i in [(v, 2), (v.rows(slice(2, None)), 0)]:
        data, idx = get_row(w, i)
        assert np.shares_memory(data, x.data)
        assert np.shares_memory(idx, x.indices)
        assert idx.dtype == index_dtype
        lo, hi = x.indptr[2], x.indptr[3]
        np.testing.assert_array_equal(data, x.data[lo:hi])
        np.testing.assert_array_equal(idx, x.indices[lo:hi])
    assert np.shares_memory(v._starts, x.indptr)
    assert np.shares_memory(v._ends, x.indptr)
    assert_unchanged(x, snap, attrs)


def test_mixed_index_dtypes():
    """int32 indices with int64 indptr (possible in scipy) are kept as they are."""
    x, vals, stored = make_csr(25, 15, dtype=np.float64, index_dtype=np.int32, seed=2)
    x.indptr = x.indptr.astype(np.int64)
    v = csr_view(x)
    assert v._starts.dtype == np.int64
    assert v.index_dtype == np.int32
    assert_view_matches(v.rows([4, 1, 3]), vals[[4, 1, 3]], stored[[4, 1, 3]])


# --- view kinds -------------------------------------------------------------------------


class Case:
    """Matrices shared by the view-kind tests and their dense references."""

    def __init__(self, dtype, index_dtype):
        kw = dict(dtype=dtype, index_dtype=index_dtype)
        self.x, self.vals, self.stored = make_csr(60, 40, seed=3, **kw)
        b1, v1, s1 = make_csr(25, 40, seed=4, **kw)
        b2, v2, s2 = make_csr(10, 40, seed=5, density=0.0, **kw)  # all zero
        b3, v3, s3 = make_csr(0, 40, seed=6, **kw)  # no rows
        b4, v4, s4 = make_csr(15, 40, seed=7, **kw)
        self.blocks = [b1, b2, b3, b4, self.x]
        self.bvals = [v1, v2, v3, v4, self.vals]
        self.bstored = [s1, s2, s3, s4, self.stored]
        self.svals = np.vstack(self.bvals)
        self.sstored = np.vstack(self.bstored)


_rng = np.random.default_rng(0)
ROW_IDX = np.array([3, 0, 3, -1, 17, 17, 59])
ROW_MASK = _rng.random(60) < 0.5
COL_MASK = _rng.random(40) < 0.6
COL_IDX = np.array([7, 2, 30, 0, 39, 12])
STACK_IDX = _rng.integers(0, 110, size=40)
STACK_MASK = _rng.random(110) < 0.5


def _kinds():
    """name -> (build view from Case, dense reference (vals, stored) from Case)."""

    def both(rows=slice(None), cols=slice(None), stacked=False):
        def f(c):
            vals, stored = (c.svals, c.sstored) if stacked else (c.vals, c.stored)
            return vals[rows][:, cols], stored[rows][:, cols]

        return f

    sel_cols = np.flatnonzero(COL_MASK)
    return {
        "full": (lambda c: csr_view(c.x), both()),
        "row_range": (lambda c: csr_view(c.x).rows(slice(5, 47)), both(slice(5, 47))),
        "row_step": (
            lambda c: csr_view(c.x).rows(slice(55, 3, -4)),
            both(slice(55, 3, -4)),
        ),
        "row_index": (lambda c: csr_view(c.x).rows(ROW_IDX), both(ROW_IDX)),
        "row_mask": (lambda c: csr_view(c.x).rows(ROW_MASK), both(ROW_MASK)),
        "col_mask": (lambda c: csr_view(c.x).cols(COL_MASK), both(cols=COL_MASK)),
        "col_index": (lambda c: csr_view(c.x).cols(COL_IDX), both(cols=COL_IDX)),
        "rows_of_cols": (
            lambda c: csr_view(c.x).cols(COL_MASK).rows(slice(3, 50)),
            both(slice(3, 50), COL_MASK),
        ),
        "cols_of_rows": (
            lambda c: csr_view(c.x).rows(ROW_IDX).cols(COL_MASK),
            both(ROW_IDX, COL_MASK),
        ),
        "cols_of_cols": (
            lambda c: csr_view(c.x).cols(COL_MASK).cols([3, 0, 5]),
            both(cols=sel_cols[[3, 0, 5]]),
        ),
        "stacked": (lambda c: vstack_view(c.blocks), both(stacked=True)),
        "stacked_rows": (
            lambda c: vstack_view(c.blocks).rows(STACK_IDX),
            both(STACK_IDX, stacked=True),
        ),
        "stacked_mask_cols": (
            lambda c: vstack_view(c.blocks).rows(STACK_MASK).cols(COL_IDX),
            both(STACK_MASK, COL_IDX, stacked=True),
        ),
        "stacked_nested": (
            lambda c: vstack_view(
                [
                    vstack_view(c.blocks[:2]).rows(slice(3, 30)),
                    csr_view(c.x).rows(ROW_IDX),
                    *c.blocks[2:4],
                ]
            ),
            lambda c: tuple(
                np.vstack([a[slice(3, 30)], b[ROW_IDX], *rest])
                for a, b, rest in [
                    (np.vstack(c.bvals[:2]), c.vals, c.bvals[2:4]),
                    (np.vstack(c.bstored[:2]), c.stored, c.bstored[2:4]),
                ]
            ),
        ),
        "csc_rows_cols": (
            lambda c: (
                csc_view(with_index_dtype(sparse.csc_array(c.x), c.x.indices.dtype))
                .rows(COL_IDX)
                .cols(ROW_MASK)
            ),
            lambda c: (
                c.vals.T[COL_IDX][:, ROW_MASK],
                c.stored.T[COL_IDX][:, ROW_MASK],
            ),
        ),
    }


KINDS = _kinds()
_CASES = {}


def get_case(dtype, index_dtype):
    key = (dtype, index_dtype)
    if key not in _CASES:
        _CASES[key] = Case(dtype, index_dtype)
    return _CASES[key]


@pytest.mark.parametrize(
    ("dtype", "index_dtype"), [(np.float32, np.int32), (np.float64, np.int64)]
)
@pytest.mark.parametrize("kind", KINDS)
def test_view_kinds(kind, dtype, index_dtype):
    case = get_case(dtype, index_dtype)
    snaps = [(b, snapshot(b), set(vars(b))) for b in case.blocks]
    build, reference = KINDS[kind]
    v = build(case)
    assert v.dtype == dtype
    assert v.index_dtype == index_dtype
    assert v.stacked == kind.startswith("stacked")
    vals, stored = reference(case)
    assert_view_matches(v, vals, stored)
    if dtype == np.float32:  # all four view types: full/colmap x plain/stacked
        sums, counts = row_stats_parallel(v)
        np.testing.assert_array_equal(sums, vals.sum(axis=1))
        np.testing.assert_array_equal(counts, stored.sum(axis=1))
    for b, snap, attrs in snaps:
        assert_unchanged(b, snap, attrs)


def test_stacked_rows_share_block_memory():
    """Kernels on a stacked view read each block's own arrays."""
    case = get_case(np.float64, np.int64)
    v = vstack_view(case.blocks)
    offsets = np.cumsum([0] + [b.shape[0] for b in case.blocks])
    for k, b in enumerate(case.blocks):
        for r in range(b.shape[0]):
            if b.indptr[r + 1] == b.indptr[r]:
                continue
            data, idx = get_row(v, offsets[k] + r)
            assert np.shares_memory(data, b.data)
            assert np.shares_memory(idx, b.indices)
            np.testing.assert_array_equal(idx, b.indices[b.indptr[r] : b.indptr[r + 1]])
            break


# --- edge cases -------------------------------------------------------------------------


F32 = {"dtype": np.float32}  # edge cases reuse the float32/int32 compilations


def test_zero_row_views():
    x, _, _ = make_csr(12, 5, dtype=np.float32, index_dtype=np.int32, seed=8)
    v = csr_view(x)
    empty = np.zeros((0, 5))
    for w in [
        v.rows(slice(4, 4)),
        v.rows(slice(9, 2)),
        v.rows([]),
        v.rows(np.zeros(12, dtype=bool)),
        csr_view(sparse.csr_array((0, 5), **F32)),
        vstack_view([sparse.csr_array((0, 5), **F32)] * 2),
    ]:
        assert w.n_rows == 0
        assert_view_matches(w.rows(slice(None)), empty, empty > 0)
        assert_view_matches(w.cols([1, 3]), empty[:, :2], empty[:, :2] > 0)


def test_all_zero_and_empty_column_matrices():
    z = sparse.csr_array((6, 4), **F32)
    assert z.nnz == 0
    zeros = np.zeros((6, 4))
    assert_view_matches(csr_view(z), zeros, zeros > 0)
    stacked = vstack_view([z, z]).cols([2])
    assert_view_matches(stacked, np.zeros((12, 1)), np.zeros((12, 1)) > 0)
    assert_view_matches(csr_view(z).cols([]), np.zeros((6, 0)), np.zeros((6, 0)) > 0)
    no_cols = csr_view(sparse.csr_array((3, 0), **F32))
    assert no_cols.shape == (3, 0)
    assert_view_matches(no_cols, np.zeros((3, 0)), np.zeros((3, 0)) > 0)


def test_explicit_zeros_are_kept():
    x = sparse.csr_array(
        (np.array([0, 2, 0], dtype=np.float32), [0, 2, 1], [0, 2, 2, 3]), shape=(3, 3)
    )
    v = csr_view(x)
    assert v.nnz == 3
    np.testing.assert_array_equal(row_stats(v)[1], [2, 0, 1])
    np.testing.assert_array_equal(get_row(v, 0)[0], [0.0, 2.0])


def test_row_slices_are_read_only_and_views_immutable():
    x, _, _ = make_csr(5, 4, dtype=np.float32, index_dtype=np.int32, seed=12)
    v = csr_view(x)

    @njit
    def write(v):
        data, _ = v.row(0)
        data[0] = 1.0

    with pytest.raises(numba.core.errors.TypingError, match="readonly"):
        write(v)
    with pytest.raises(AttributeError):
        v.n_rows = 3
    assert copy.copy(v) is v
    with pytest.raises(TypeError, match="pickle"):
        pickle.dumps(vstack_view([x, x]))


def test_col_identity_has_no_load_and_kernel_vectorizes():
    x, _, _ = make_csr(30, 20, dtype=np.float32, index_dtype=np.int32, seed=9)
    v = csr_view(x)
    assert col_of(v, 7) == 7
    assert col_of(v.cols([7, 3]), 3) == 1
    assert col_of(v.cols([7, 3]), 5) == -1
    sig = col_of.signatures[0]
    ir = col_of.inspect_llvm(sig)
    name = re.escape(col_of.overloads[sig].fndesc.mangled_name)
    body = re.search(rf"define [^\n]*@{name}\(.*?\n}}\n", ir, re.S).group(0)
    assert " load " not in body
    assert "br " not in body
    # The inner loop of a fastmath reduction over an unmasked view is vectorized.
    assert total(v) == x.sum(dtype=np.float64)
    assert re.search(
        r"fadd fast <\d+ x double>", total.inspect_llvm(total.signatures[0])
    )


# --- parallelism, caching -----------------------------------------------------------------


def test_prange_over_view_is_parallel():
    x, vals, _ = make_csr(400, 10, dtype=np.float32, index_dtype=np.int32, seed=10)
    v = vstack_view([x, x]).rows(slice(1, None))
    threads = thread_of_row(v)
    sig = thread_of_row.signatures[0]
    diag = thread_of_row.get_metadata(sig)["parfor_diagnostics"]
    assert diag.count_parfors() >= 1
    assert "__numba_parfor_gufunc" in thread_of_row.inspect_llvm(sig)
    # Static scheduling (omp, workqueue) splits the rows over all threads.
    if numba.get_num_threads() > 1 and numba.threading_layer() != "tbb":
        assert len(np.unique(threads)) > 1
    sums, _ = row_stats_parallel(v)
    np.testing.assert_array_equal(sums, np.vstack([vals, vals])[1:].sum(axis=1))
    for sig in row_stats_parallel.signatures:
        diag = row_stats_parallel.get_metadata(sig)["parfor_diagnostics"]
        assert diag.count_parfors() >= 1


CACHE_SCRIPT = """
import numpy as np
from numba import njit, prange
from scipy import sparse
from scanpy_kernels.sparse import csr_view, vstack_view

@njit(parallel=True, cache=True)
def row_sums(v):
    out = np.zeros(v.n_rows)
    for i in prange(v.n_rows):
        data, idx = v.row(i)
        acc = 0.0
        for k in range(data.size):
            if v.col(idx[k]) >= 0:
                acc += data[k]
        out[i] = acc
    return out

x = sparse.random(50, 20, density=0.3, format="csr", random_state=0)
v = vstack_view([x, x]).cols(np.arange(20) % 2 == 0)
assert np.allclose(row_sums(v), np.vstack([x[:, ::2].toarray()] * 2).sum(axis=1))
print(sum(row_sums.stats.cache_hits.values()), sum(row_sums.stats.cache_misses.values()))
"""


def test_cache_true_kernel_loads_from_cache(tmp_path):
    mod = tmp_path / "cached_kernel.py"
    mod.write_text(textwrap.dedent(CACHE_SCRIPT))

    def run():
        out = subprocess.run(
            [sys.executable, str(mod)], capture_output=True, text=True, check=True
        )
        return tuple(int(t) for t in out.stdout.split())

    assert run() == (0, 1)  # compiled, then saved
    assert run() == (1, 0)  # loaded from the cache
    assert list((tmp_path / "__pycache__").glob("cached_kernel.row_sums-*.nbc"))


# --- memory: views never copy data/indices -------------------------------------------------


@pytest.fixture(scope="module")
def big_csr():
    """200 MB of data + indices (float32, int32), 500 entries per row."""
    n_rows, per_row, n_cols = 50_000, 500, 20_000
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int32)
    indices = np.tile(np.arange(per_row, dtype=np.int32) * 40, n_rows)
    data = np.ones(n_rows * per_row, dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))


VIEW_BUILDERS = {  # name -> (build from matrix and selections, blocks covered)
    "full": (lambda x, s: csr_view(x), 1),
    "row_range": (lambda x, s: csr_view(x).rows(slice(100, 30_000)), 1),
    "row_index": (lambda x, s: csr_view(x).rows(s["idx"]), 1),
    "row_mask_col_mask": (
        lambda x, s: csr_view(x).rows(s["rmask"]).cols(s["cmask"]),
        1,
    ),
    "stacked_rows": (lambda x, s: vstack_view([x, x]).rows(slice(10, None)), 2),
}


@pytest.mark.parametrize("kind", VIEW_BUILDERS)
def test_views_do_not_copy(big_csr, kind):
    """Building a view allocates < 1% of the data+indices bytes it covers."""
    x, (build, n_blocks) = big_csr, VIEW_BUILDERS[kind]
    budget = 0.01 * n_blocks * (x.data.nbytes + x.indices.nbytes)
    assert budget >= 2e6

    def selections(x):  # the caller's: made outside the measurement
        return {
            "idx": np.arange(0, x.shape[0], 3),
            "rmask": np.arange(x.shape[0]) % 2 == 0,
            "cmask": np.arange(x.shape[1]) % 3 == 0,
        }

    small = x[:50].copy()
    total(build(small, selections(small)))  # compile first (same dtypes)
    sel = selections(x)

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        view = build(x, sel)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    assert peak < budget, f"view allocated {peak} bytes"
    data, idx = get_row(view, 1)
    assert np.shares_memory(data, x.data)
    assert np.shares_memory(idx, x.indices)
    del view, data, idx

    # Resident memory, numba-side allocations included (validation, kernel).
    gc.collect()
    proc = psutil.Process()
    rss0 = proc.memory_info().rss
    view = build(x, sel)
    result = total(view)
    grown = proc.memory_info().rss - rss0
    assert grown < budget, f"RSS grew by {grown} bytes"
    assert result == view.nnz


# --- validation -------------------------------------------------------------------------


def _with_data(dense, dtype):
    x = sparse.csr_array(dense)
    x.data = x.data.astype(dtype)
    return x


def _unsorted():
    return sparse.csr_array(
        (np.ones(3), np.array([2, 0, 1]), np.array([0, 2, 3])), shape=(2, 3)
    )


def _duplicated():
    return sparse.csr_array(
        (np.ones(3), np.array([1, 1, 0]), np.array([0, 2, 3])), shape=(2, 3)
    )


def _noncontiguous():
    x = sparse.csr_array(np.eye(3))
    x.data = np.ones(2 * x.nnz)[::2]
    return x


def _out_of_range():
    x = sparse.csr_array(np.eye(3))
    x.indices = x.indices.copy()
    x.indices[1] = 3
    return x


def _bad_indptr():
    x = sparse.csr_array(np.eye(3))
    x.indptr = np.array([0, 2, 1, 3], dtype=x.indptr.dtype)
    return x


ERRORS = {
    "dense": (lambda: csr_view(np.eye(3)), TypeError, "scipy.sparse CSR"),
    "coo": (lambda: csr_view(sparse.coo_array(np.eye(3))), TypeError, "format 'coo'"),
    "csc_to_csr_view": (
        lambda: csr_view(sparse.csc_array(np.eye(3))),
        TypeError,
        "use csc_view",
    ),
    "csr_to_csc_view": (
        lambda: csc_view(sparse.csr_array(np.eye(3))),
        TypeError,
        "use csr_view",
    ),
    "int_data": (
        lambda: csr_view(sparse.csr_array(np.eye(3, dtype=np.int64))),
        TypeError,
        "data dtype",
    ),
    "float16": (
        lambda: csr_view(_with_data(np.eye(3), np.float16)),
        TypeError,
        "data dtype",
    ),
    "big_endian": (lambda: csr_view(_with_data(np.eye(3), ">f8")), TypeError, "native"),
    "complex": (
        lambda: csr_view(_with_data(np.eye(3), np.complex128)),
        TypeError,
        "data dtype",
    ),
    "noncontiguous": (lambda: csr_view(_noncontiguous()), ValueError, "not contiguous"),
    "unsorted": (lambda: csr_view(_unsorted()), ValueError, "canonical"),
    "duplicated": (lambda: csr_view(_duplicated()), ValueError, "canonical"),
    "out_of_range": (lambda: csr_view(_out_of_range()), ValueError, "outside"),
    "bad_indptr": (lambda: csr_view(_bad_indptr()), ValueError, "indptr"),
    "vstack_cols": (
        lambda: vstack_view([sparse.csr_array((2, 3)), sparse.csr_array((2, 4))]),
        ValueError,
        "columns",
    ),
    "vstack_dtype": (
        lambda: vstack_view(
            [sparse.csr_array((2, 3)), sparse.csr_array((2, 3), dtype=np.float32)]
        ),
        TypeError,
        "dtypes",
    ),
    "vstack_index_dtype": (
        lambda: vstack_view(
            [
                sparse.csr_array((2, 3)),
                with_index_dtype(sparse.csr_array((2, 3)), np.int64),
            ]
        ),
        TypeError,
        "dtypes",
    ),
    "vstack_colmap": (
        lambda: vstack_view([csr_view(sparse.csr_array((2, 3))).cols([0])] * 2),
        ValueError,
        "column subset",
    ),
    "vstack_csc": (
        lambda: vstack_view([sparse.csc_array((2, 3))] * 2),
        TypeError,
        "format 'csc'",
    ),
    "vstack_empty": (lambda: vstack_view([]), ValueError, "at least one"),
    "rows_mask_length": (
        lambda: csr_view(sparse.csr_array((4, 3))).rows([True, False]),
        ValueError,
        "length 2",
    ),
    "rows_out_of_range": (
        lambda: csr_view(sparse.csr_array((4, 3))).rows([0, 4]),
        ValueError,
        "out of range",
    ),
    "rows_negative_out_of_range": (
        lambda: csr_view(sparse.csr_array((4, 3))).rows([-5]),
        ValueError,
        "out of range",
    ),
    "rows_float": (
        lambda: csr_view(sparse.csr_array((4, 3))).rows([0.5]),
        TypeError,
        "integer",
    ),
    "rows_2d": (
        lambda: csr_view(sparse.csr_array((4, 3))).rows([[0]]),
        ValueError,
        "1-dimensional",
    ),
    "cols_mask_length": (
        lambda: csr_view(sparse.csr_array((4, 3))).cols([True]),
        ValueError,
        "length 1",
    ),
    "cols_out_of_range": (
        lambda: csr_view(sparse.csr_array((4, 3))).cols([3]),
        ValueError,
        "out of range",
    ),
    "cols_duplicate": (
        lambda: csr_view(sparse.csr_array((4, 3))).cols([1, 1]),
        ValueError,
        "distinct",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_errors(case):
    fn, exc, match = ERRORS[case]
    with pytest.raises(exc, match=match):
        fn()


def test_check_false_skips_validation():
    x = _unsorted()
    snap, attrs = snapshot(x), set(vars(x))
    v = csr_view(x, check=False)
    np.testing.assert_array_equal(row_stats(v)[0], [2.0, 1.0])
    assert_unchanged(x, snap, attrs)  # not sorted in place


def test_check_canonical_ignores_scipy_flag():
    x, _, _ = make_csr(20, 10, dtype=np.float64, index_dtype=np.int32, seed=11)
    x.has_canonical_format = False  # stale: the matrix is canonical
    assert check_canonical(x)
    assert check_canonical(sparse.csc_matrix(x))
    for bad in [_unsorted(), _duplicated()]:
        bad.has_canonical_format = True  # stale: the matrix is not canonical
        snap, attrs = snapshot(bad), set(vars(bad))
        assert not check_canonical(bad)
        assert_unchanged(bad, snap, attrs)
        assert bad.has_canonical_format  # flag left alone
    unsorted_csc = sparse.csc_array(
        (np.ones(3), np.array([2, 0, 1]), np.array([0, 2, 3])), shape=(3, 2)
    )
    assert not check_canonical(unsorted_csc)
    with pytest.raises(ValueError, match="outside"):
        check_canonical(_out_of_range())
    with pytest.raises(TypeError):
        check_canonical(np.eye(2))
