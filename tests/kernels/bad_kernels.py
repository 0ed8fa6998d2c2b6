"""One deliberately bad kernel per verifier check (the verifier must flag each one,
for exactly that reason).  Not part of the package: loaded by path in the tests."""

from __future__ import annotations

import numba
import numpy as np

from scanpy_kernels.toolkit import kernel, vectorize

F64 = ["float64[::1](float64[::1])"]


def _vec(rng):
    return [(rng.random(1000),)]


def _scatter(rng):
    return [(rng.integers(0, 10, 200_000), rng.random(200_000), 10)]


@kernel(signatures=["float64(float64[::1])"], example=_vec)
def prange_with_break(x):
    """(a) a second exit keeps numba from turning the prange into a parallel loop."""
    s = 0.0
    for i in numba.prange(x.shape[0]):
        if x[i] < 0:
            break
        s += x[i]
    return s


@kernel(
    signatures=["float64[:, ::1](float64[:, ::1])"], example=lambda rng: [(rng.random((40, 30)),)]
)
def nested_prange(x):
    """(a) the inner prange is serialized inside the outer one."""
    out = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        for j in numba.prange(x.shape[1]):
            out[i, j] = 2.0 * x[i, j]
    return out


@kernel(signatures=["float64[::1](int64[::1], float64[::1], int64)"], example=_scatter)
def racy_scatter(idx, w, n):
    """(b) two iterations may add into the same bin at once."""
    out = np.zeros(n)
    for i in numba.prange(idx.shape[0]):
        out[idx[i]] += w[i]
    return out


@kernel(signatures=["float64(float64[::1])"], parallel=False)
def calls_print(x):
    """(c) print goes through the Python C-API."""
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
    print(s)
    return s


@kernel(signatures=F64, example=_vec)
def allocates_in_loop(x):
    """(d) a heap allocation per iteration of the hot loop."""
    out = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        tmp = np.empty(i % 7 + 1)
        tmp[:] = x[i]
        out[i] = tmp.sum()
    return out


@kernel(signatures=["float64(float64[::1], int64[::1])"], parallel=False, boundscheck=True)
def bounds_checked(x, idx):
    """(e) boundscheck=True makes every index a possible IndexError."""
    s = 0.0
    for i in range(idx.shape[0]):
        s += x[idx[i]]
    return s


@kernel(signatures=F64, parallel=False)
def hint_not_honoured(x):
    """(f) a loop-carried dependence: LLVM cannot vectorize it, the hint is dropped."""
    out = x.copy()
    vectorize(4)
    for i in range(1, out.shape[0]):
        out[i] = out[i - 1] * 0.5 + out[i]
    return out


@kernel(signatures=F64, example=_vec)
def depends_on_threads(x):
    """(g) the result records which thread computed it."""
    out = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        out[i] = x[i] + numba.get_thread_id()
    return out


@kernel(signatures=F64)
def parallel_without_example(x):
    """(example) a parallel kernel the run-time check cannot exercise."""
    out = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        out[i] = 2.0 * x[i]
    return out


@kernel(signatures=["float64(int64[::1])"], parallel=False)
def does_not_compile(x):
    """(compile) the declared signature cannot be typed."""
    return x.no_such_attribute


@kernel(signatures=F64, example=_vec)
def uncacheable(x):
    """(cache) numba's get_num_threads() is a ctypes global: numba refuses to cache."""
    out = np.empty_like(x)
    n = numba.get_num_threads()
    for i in numba.prange(x.shape[0]):
        out[i] = x[i] * (n > 0)
    return out
