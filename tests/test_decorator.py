"""The kernel decorator's calling conventions: keyword arguments, signature templates."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from scanpy_kernels import as_matrix, hvg
from scanpy_kernels.toolkit import kernel, matrix_args, signatures, thread_limit


@kernel(signatures=["float64[::1](float64[::1], int64, float64)"], parallel=False, cache=False)
def scaled_head(x, n, scale):
    """The first ``n`` values times ``scale``."""
    out = np.empty(n)
    for i in range(n):
        out[i] = x[i] * scale
    return out


def test_keywords_equal_positional():
    x = np.arange(10.0)
    want = scaled_head(x, 4, 2.5)
    for got in (
        scaled_head(x, 4, scale=2.5),
        scaled_head(x, n=4, scale=2.5),
        scaled_head(scale=2.5, x=x, n=4),
    ):
        np.testing.assert_array_equal(got, want)


def test_keywords_bind_as_python_does():
    x = np.arange(10.0)
    with pytest.raises(TypeError, match="scale"):
        scaled_head(x, n=4)
    with pytest.raises(TypeError, match="unexpected keyword"):
        scaled_head(x, 4, 2.5, offset=1.0)
    with pytest.raises(TypeError, match="multiple values"):
        scaled_head(x, 4, 2.5, n=3)


@pytest.mark.parametrize("threads", [1, 2])
def test_package_kernel_with_keywords(threads):
    """A parallel package kernel over a matrix: ``kernel(*m.args, codes=..., ...)``."""
    rng = np.random.default_rng(0)
    x = rng.poisson(1.0, (50, 12)).astype(np.float32)
    m = as_matrix(x)
    codes = rng.integers(-1, 2, 50).astype(np.int64)
    with thread_limit(threads):
        want = hvg.mean_var_dense(*m.args, codes, 2, 1, True)
        got = hvg.mean_var_dense(
            *m.args, count_positive=True, correction=1, n_groups=2, codes=codes
        )
    for a, b in zip(got, want, strict=True):
        np.testing.assert_array_equal(a, b)


def test_signatures_fill_every_field():
    assert signatures("f({d}[::1], {i}[::1], {i}[::1], int64[::1])") == [
        f"f({d}[::1], {i}[::1], {i}[::1], int64[::1])"
        for d in ("float32", "float64")
        for i in ("int32", "int64")
    ]
    assert signatures("f({d}[:, ::1], {d})") == [
        "f(float32[:, ::1], float32)",
        "f(float64[:, ::1], float64)",
    ]
    assert signatures("f(int64[::1])") == ["f(int64[::1])"]
    with pytest.raises(ValueError, match="unknown field"):
        signatures("f({c}[::1])")


@pytest.mark.parametrize("fmt", ["csr", "csc", "dense"])
def test_matrix_args_are_matrix_args(fmt):
    """Examples and drivers pass a matrix alike: ``matrix_args`` is ``Matrix.args``."""
    x = np.random.default_rng(1).poisson(0.5, (20, 7)).astype(np.float64)
    got = matrix_args(x, fmt, np.float32, np.int32)
    ref = x.astype(np.float32)
    if fmt != "dense":
        import scipy.sparse as sp

        ref = (sp.csr_matrix if fmt == "csr" else sp.csc_matrix)(ref)
    want = as_matrix(ref).args
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)
        else:
            assert a == b
    assert all(numba.typeof(a) == numba.typeof(b) for a, b in zip(got, want, strict=True))
