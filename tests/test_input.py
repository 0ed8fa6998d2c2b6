"""The input layer: scanpy_kernels.as_matrix and the check_canonical kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from scanpy_kernels import UnsupportedInputError, as_matrix, sorted_indices
from scanpy_kernels._input import (
    CANONICAL,
    CORRUPT,
    DUPLICATES,
    UNSORTED,
    DuplicateEntriesError,
    check_canonical,
)
from scanpy_kernels.toolkit import thread_limit


def _csr(seed=0, shape=(40, 30)):
    return sp.random(*shape, density=0.3, format="csr", random_state=seed, dtype=np.float32)


def _snapshot(x):
    return x.data.copy(), x.indices.copy(), x.indptr.copy()


def _dense(m):
    cls = sp.csr_array if m.fmt == "csr" else sp.csc_array
    return cls((m.data, m.indices, m.indptr), shape=m.shape).toarray()


def _with_duplicate(x):
    """``x`` with its first stored entry stored a second time (value 1)."""
    indptr = x.indptr.copy()
    indptr[1:] += 1
    return sp.csr_matrix(
        (np.insert(x.data, 0, 1.0), np.insert(x.indices, 0, x.indices[0]), indptr),
        shape=x.shape,
    )


@pytest.mark.parametrize("threads", [1, 2])
def test_check_canonical_verdicts(threads):
    x = _csr()
    ind, ptr = x.indices, x.indptr
    with thread_limit(threads):
        assert check_canonical(ind, ptr, 30, x.nnz) == CANONICAL
        row = np.flatnonzero(np.diff(ptr) >= 2)[0]
        bad = ind.copy()
        bad[[ptr[row], ptr[row] + 1]] = bad[[ptr[row] + 1, ptr[row]]]
        assert check_canonical(bad, ptr, 30, x.nnz) == UNSORTED
        dup = ind.copy()
        dup[ptr[row] + 1] = dup[ptr[row]]
        assert check_canonical(dup, ptr, 30, x.nnz) == DUPLICATES
        assert check_canonical(ind, ptr, 5, x.nnz) == CORRUPT  # index out of range
        assert check_canonical(ind, ptr, 30, x.nnz - 1) == CORRUPT  # past the values
        down = ptr.copy()
        down[3] = down[4] + 1
        assert check_canonical(ind, down, 30, x.nnz) == CORRUPT


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("cls", ["matrix", "array"])
def test_canonical_input_is_used_as_is(fmt, cls):
    x = _csr().asformat(fmt)
    x = sp.csr_matrix(x) if (cls, fmt) == ("matrix", "csr") else x
    x = (sp.csr_array if fmt == "csr" else sp.csc_array)(x) if cls == "array" else x
    m = as_matrix(x)
    assert m.fmt == fmt
    assert m.shape == x.shape
    assert m.data is x.data  # no copy
    np.testing.assert_array_equal(_dense(m), x.toarray())


def test_unsorted_is_sorted_on_a_copy():
    x = _csr()
    x.indices[: x.indptr[1]] = x.indices[: x.indptr[1]][::-1].copy()
    x.data[: x.indptr[1]] = x.data[: x.indptr[1]][::-1].copy()
    before = _snapshot(x)
    m = as_matrix(x)
    assert check_canonical(m.indices, m.indptr, 30, m.data.size) == CANONICAL
    np.testing.assert_array_equal(_dense(m), x.toarray())
    for a, b in zip(before, _snapshot(x), strict=True):
        np.testing.assert_array_equal(a, b)  # the caller's matrix is unchanged


def test_unsorted_csc_keeps_its_order_unless_asked():
    x = _csr().tocsc()
    x.indices[:2] = x.indices[1::-1].copy()
    kept = as_matrix(x)
    assert not kept.sorted
    assert kept.indices is not None and np.array_equal(kept.indices, x.indices)
    for m in (as_matrix(x, sort_csc=True), sorted_indices(kept)):
        assert m.sorted
        assert check_canonical(m.indices, m.indptr, 40, m.data.size) == CANONICAL
        np.testing.assert_array_equal(_dense(m), x.toarray())


def test_duplicates_sum_raise_or_unsupported():
    x = _with_duplicate(_csr())
    before = _snapshot(x)
    with pytest.raises(ValueError, match="duplicate entries"):
        as_matrix(x)
    with pytest.raises(UnsupportedInputError, match="duplicate entries"):
        as_matrix(x, duplicates="unsupported")  # the frontend's fallback
    assert as_matrix(_csr(), duplicates="unsupported").sorted  # none: no effect
    m = as_matrix(x, duplicates="sum")
    assert m.data.size == x.nnz - 1
    np.testing.assert_array_equal(_dense(m), x.toarray())  # scipy sums them too
    for a, b in zip(before, _snapshot(x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_stored_is_taken_as_it_is():
    """``stored=True``: no check beyond indptr, no copy; ``sorted_indices`` checks then."""
    x = _csr()
    m = as_matrix(x, stored=True)
    assert not m.sorted
    assert m.data is x.data
    assert m.indices is x.indices
    s = sorted_indices(m)  # canonical: checked, not copied
    assert s.sorted
    assert s.indices is x.indices
    rev = x.copy()
    a, b = rev.indptr[2], rev.indptr[3]
    rev.indices[a:b] = rev.indices[a:b][::-1].copy()
    rev.data[a:b] = rev.data[a:b][::-1].copy()
    before = _snapshot(rev)
    s = sorted_indices(as_matrix(rev, stored=True))  # unsorted: a sorted copy
    assert s.sorted
    np.testing.assert_array_equal(s.indices, x.indices)
    for u, v in zip(before, _snapshot(rev), strict=True):
        np.testing.assert_array_equal(u, v)
    dup = as_matrix(_with_duplicate(x), stored=True)
    assert dup.data.size == x.nnz + 1  # kept as stored
    with pytest.raises(DuplicateEntriesError, match="duplicate entries"):
        sorted_indices(dup)
    bad = x.copy()
    bad.indptr[-1] -= 1  # does not reach the last stored value
    with pytest.raises(ValueError, match="corrupt"):
        as_matrix(bad, stored=True)


def test_corrupt_structure_raises():
    x = _csr()
    x.indices[3] = 99
    with pytest.raises(ValueError, match="corrupt"):
        as_matrix(x)


@pytest.mark.parametrize("index", [np.uint32, np.int64, np.int16])
def test_index_dtypes_are_promoted(index):
    x = _csr()
    y = sp.csr_matrix(x.shape)
    y.data, y.indices, y.indptr = x.data, x.indices.astype(index), x.indptr.astype(np.int64)
    m = as_matrix(y)
    assert m.indices.dtype == m.indptr.dtype
    assert m.indices.dtype in (np.int32, np.int64)
    np.testing.assert_array_equal(_dense(m), x.toarray())


def test_strided_big_endian_and_readonly_values():
    x = _csr()
    wide = np.zeros(2 * x.nnz, np.float32)
    wide[::2] = x.data
    y = sp.csr_matrix(x.shape)
    y.data, y.indices, y.indptr = wide[::2], x.indices, x.indptr
    assert not y.data.flags.c_contiguous
    m = as_matrix(y)
    assert m.data.flags.c_contiguous
    np.testing.assert_array_equal(_dense(m), x.toarray())
    big = np.asarray(x.toarray(), dtype=">f8")
    assert as_matrix(big).data.dtype == np.float64
    ro = x.toarray()
    ro.flags.writeable = False
    assert as_matrix(ro).data is ro


def test_dense_dtypes_and_orders():
    a = np.arange(12, dtype=np.int64).reshape(3, 4)
    with pytest.raises(UnsupportedInputError, match="int64"):
        as_matrix(a)
    assert as_matrix(a, convert=True).data.dtype == np.float64
    f = np.asfortranarray(a.astype(np.float32))
    with pytest.raises(UnsupportedInputError, match="C-contiguous"):
        as_matrix(f)
    m = as_matrix(f, convert=True)
    assert m.data.flags.c_contiguous and m.data.dtype == np.float32
    assert as_matrix(np.asmatrix(a.astype(np.float64))).data.__class__ is np.ndarray
    with pytest.raises(UnsupportedInputError):
        as_matrix(np.zeros(3))
    with pytest.raises(UnsupportedInputError):
        as_matrix(sp.coo_matrix(a))


def test_dask_is_unsupported():
    da = pytest.importorskip("dask.array")
    with pytest.raises(UnsupportedInputError, match="dask"):
        as_matrix(da.zeros((4, 4), chunks=2))


def test_major_block():
    x = _csr()
    m = as_matrix(x)
    b = m.major_block(3, 9)
    np.testing.assert_array_equal(_dense(b), x[3:9].toarray())
    c = as_matrix(x.tocsc()).major_block(2, 5)
    np.testing.assert_array_equal(_dense(c), x.tocsc()[:, 2:5].toarray())


@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_threads_do_not_abort(layer):
    """4 Python threads checking matrices at once: numba's workqueue layer aborts
    the process when two threads enter a parallel region; kernels off the main
    thread run serially, so it is never entered concurrently."""
    code = textwrap.dedent(
        """
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np, scipy.sparse as sp
        from scanpy_kernels import as_matrix, hvg, rank_genes_groups
        x = sp.random(3000, 500, density=0.1, format="csr", random_state=0)
        codes = (np.arange(3000) % 3).astype(np.int64)
        def work(_):
            m = as_matrix(x)
            mean = hvg.mean_var(m, codes, 3)[0]
            rank_genes_groups.ranksums(m, codes, 3, -1)
            return mean
        as_matrix(x)  # the main thread's parallel build first
        with ThreadPoolExecutor(4) as pool:
            out = list(pool.map(work, range(16)))
        assert all(np.array_equal(o, out[0]) for o in out)
        print("ok")
        """
    )
    env = {"NUMBA_THREADING_LAYER": layer, "NUMBA_NUM_THREADS": "2"}
    import os

    proc = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if layer == "omp" and "No threading layer could be loaded" in proc.stderr:
        pytest.skip("no OpenMP threading layer here")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
