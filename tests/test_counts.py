"""``counts.nonnegative_integers`` against scanpy 1.12.4's numpy check, value by value."""

from __future__ import annotations

import numpy as np
import pytest

from scanpy_kernels import UnsupportedInputError
from scanpy_kernels.counts import CHUNK, HEAD, are_counts, nonnegative_integers
from scanpy_kernels.toolkit import thread_limit

DTYPES = (np.float32, np.float64)

#: values that make pristine answer False (sign bit, fraction, NaN, inf), and True
BAD = (-1.0, -0.0, -np.inf, np.inf, np.nan, -np.nan, 0.5, 1.5, 1e-40, 1e-300, 3.0000002)
GOOD = (0.0, 1.0, 7.0, 2.0**24, 2.0**60, 1e30, np.finfo(np.float32).max)


def pristine(data: np.ndarray) -> bool:
    """scanpy 1.12.4 ``_check_nonnegative_integers_in_mem`` on a float array."""
    if np.signbit(data).any():
        return False
    with np.errstate(invalid="ignore"):  # inf % 1 warns
        return not np.any((data % 1) != 0)


def _counts(n: int, dtype, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).negative_binomial(2, 0.3, n).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", BAD + GOOD, ids=repr)
def test_single_value_each_position(dtype, value):
    """One special value at the start, a chunk edge, after the head, the end.

    The kernel on the whole array, and ``are_counts`` (the head, then the rest split
    over threads: the value in the first and in the second thread's range).
    """
    n = 4 * HEAD + 3 * CHUNK + 17  # the last chunk partial
    base = _counts(n, dtype)
    v = np.array(value).astype(dtype)  # as stored: 1e-40 is a float32 subnormal
    for pos in (0, CHUNK - 1, CHUNK, HEAD, HEAD + 5, 3 * HEAD, n - 1):
        x = base.copy()
        x[pos] = v
        expected = pristine(x)
        assert nonnegative_integers(x) is expected, (dtype, value, pos)
        for threads in (1, 2):
            with thread_limit(threads):
                assert are_counts(x) is expected, (dtype, value, pos, threads)
        assert np.array_equal(x, np.where(np.arange(n) == pos, v, base), equal_nan=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_random_mixtures(dtype, n_threads):
    rng = np.random.default_rng(1)
    specials = np.array(BAD + GOOD).astype(dtype)
    with thread_limit(n_threads):
        for trial in range(40):
            x = _counts(int(rng.integers(0, 3 * CHUNK)), dtype, seed=trial)
            k = int(rng.integers(0, 4))
            if x.size and k:
                x[rng.integers(0, x.size, k)] = rng.choice(specials, k)
            assert nonnegative_integers(x) is pristine(x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_and_read_only(dtype):
    assert nonnegative_integers(np.empty(0, dtype)) is True
    x = _counts(1000, dtype)
    x.flags.writeable = False
    assert nonnegative_integers(x) is True
    y = x.copy()
    y[10] = 0.25
    y.flags.writeable = False
    assert nonnegative_integers(y) is False


def test_declared_signatures_cover_read_only():
    """Read-only input has a declared (cached, verified) build, no lazy compile."""
    sigs = " ".join(nonnegative_integers.signatures)
    assert sigs.count("readonly=True") == 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_are_counts_routes_arrays(dtype):
    """2D arrays in C and Fortran order in place; other layouts and dtypes refused."""
    x = _counts(3000, dtype).reshape(60, 50)
    spoiled = x.copy()
    spoiled[59, 0] = 0.5
    for arr in (x, spoiled):
        for a in (arr, np.asfortranarray(arr), arr[:0]):
            assert are_counts(a) is pristine(a)
    swapped = x.astype(x.dtype.newbyteorder())
    for bad in (x[:, ::2], swapped, x.astype(np.int64), x.astype(np.float16)):
        with pytest.raises(UnsupportedInputError):
            are_counts(bad)
