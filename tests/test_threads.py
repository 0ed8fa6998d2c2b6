"""Thread policy: limits, the serial fallback off the main thread, dask safety."""

from __future__ import annotations

import threading

import numba
import numpy as np
import pytest

from scanpy_kernels.toolkit import (
    combine_partials,
    kernel,
    plan_threads,
    set_thread_limit_provider,
    split_range,
    thread_limit,
    thread_partials,
)


@kernel(cache=False)
def threads_used(x):
    """Writes which thread ran each iteration (only for testing the policy)."""
    out = np.empty(x.shape[0], np.int64)
    for i in numba.prange(x.shape[0]):
        out[i] = numba.get_thread_id()
    return out


N = numba.config.NUMBA_NUM_THREADS
needs_2 = pytest.mark.skipif(N < 2, reason="needs at least 2 numba threads")


@pytest.fixture(autouse=True)
def _no_provider():
    yield
    set_thread_limit_provider(None)


@needs_2
def test_default_uses_all_threads():
    assert plan_threads() == N
    assert set(threads_used(np.zeros(10_000))) == set(range(N))


def test_thread_limit_one_runs_serial_build():
    with thread_limit(1):
        assert plan_threads() == 1
        assert set(threads_used(np.zeros(1000))) == {0}
    assert threads_used.dispatcher(parallel=False).signatures  # the serial build ran


@needs_2
@pytest.mark.parametrize(("n", "expected"), [(-1, N), (0, N), (1, 1), (2, 2), (10_000, N)])
def test_limit_semantics_match_scanpy_n_jobs(n, expected):
    with thread_limit(n):
        assert plan_threads() == expected


@needs_2
def test_provider_is_the_default_and_restores_numba_setting():
    set_thread_limit_provider(lambda: 1)
    before = numba.get_num_threads()
    assert set(threads_used(np.zeros(1000))) == {0}
    set_thread_limit_provider(lambda: 2)
    assert set(threads_used(np.zeros(10_000))) == {0, 1}
    assert numba.get_num_threads() == before
    with thread_limit(1):  # explicit beats the provider
        assert plan_threads() == 1


def _in_thread(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("v", fn()))
    t.start()
    t.join()
    return box["v"]


def test_off_main_thread_runs_serially():
    assert _in_thread(plan_threads) == 1
    assert _in_thread(lambda: set(threads_used(np.zeros(1000)))) == {0}


def test_dask_tasks_never_oversubscribe():
    da = pytest.importorskip("dask.array")
    x = da.zeros(40_000, chunks=10_000)
    ids = x.map_blocks(lambda b: threads_used(b).astype(float), dtype=float).compute(
        scheduler="threads"
    )
    assert set(ids) == {0.0}  # every task ran the serial build: dask supplies the parallelism


def test_kernels_pickle_by_reference():
    import pickle

    from .kernels import good_kernels

    assert pickle.loads(pickle.dumps(good_kernels.csr_row_sums)) is good_kernels.csr_row_sums


@kernel(cache=False)
def partial_rows(x):
    p = thread_partials(3, np.float64)
    for i in numba.prange(x.shape[0]):
        p[numba.get_thread_id(), i % 3] += x[i]
    return combine_partials(p, 3), p.shape[0]


@needs_2
def test_thread_partials_have_one_row_per_thread():
    sums, rows = partial_rows(np.ones(1000))
    assert rows == N
    assert sums.tolist() == [334.0, 333.0, 333.0]
    with thread_limit(1):  # the serial build needs (and gets) one row
        sums, rows = partial_rows(np.ones(1000))
    assert rows == 1
    assert sums.tolist() == [334.0, 333.0, 333.0]


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_split_range_covers_the_range_in_order(threads):
    """Contiguous ranges in order, one per allowed thread, each on a worker thread."""
    seen = []

    def rec(lo, hi):
        seen.append(threading.current_thread() is threading.main_thread())
        return lo, hi, plan_threads()

    with thread_limit(threads):
        parts = split_range(rec, 1000, min_size=10)
    n = min(threads, N)
    assert [p[:2] for p in parts] == [(1000 * k // n, 1000 * (k + 1) // n) for k in range(n)]
    assert all(p[2] == 1 for p in parts)  # kernels called there run serially
    assert seen == [n == 1] * n  # one range: on this thread, else on workers
    with thread_limit(threads):
        assert split_range(rec, 15, min_size=10)[0][:2] == (0, 15)  # too small to split
        assert split_range(rec, 0)[0][:2] == (0, 0)
