"""The regress_out kernels (``scanpy_kernels.regress``) against scanpy 1.12.4.

The regressor (the category means) must equal scanpy's bit for bit.  The residuals
are statsmodels' GLM fit solved in closed form: they are compared with scanpy's within
the bound of migration_tests/TOLERANCES.md, and with an extended-precision
(``np.longdouble``) least-squares reference, to which they must be at least as close
as statsmodels' own (up to float64 rounding).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scanpy_kernels import UnsupportedInputError, regress
from scanpy_kernels.toolkit import thread_limit

pristine = pytest.importorskip("scanpy.preprocessing._simple")
pytest.importorskip("statsmodels")

#: migration_tests/TOLERANCES.md, family regress, field X
ATOL = 1e-11


def _logged(rng, n_cells, n_genes, dtype):
    x = np.log1p(rng.negative_binomial(2, 0.3, (n_cells, n_genes))).astype(dtype)
    x[:, 1] = 2.5  # constant: kept
    x[:, 2] = 0.0
    return x


def _pristine(x, codes, n_cats):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = pristine._create_regressor_categorical(x, n_cats, codes)
        res = pristine._regress_out_chunk(x, reg, variable_is_categorical=True).T
    return reg, res


def _reference(x, reg):
    """Least squares of each gene on [1, r] in extended precision (centred)."""
    y = x.astype(np.longdouble)
    r = reg.astype(np.longdouble)
    out = np.empty(x.shape, dtype=np.longdouble)
    for j in range(x.shape[1]):
        yj, rj = y[:, j], r[:, j]
        if (yj == yj[0]).all():
            out[:, j] = yj
            continue
        dr = rj - rj.mean()
        sxx = (dr * dr).sum()
        b1 = (dr * (yj - yj.mean())).sum() / sxx if sxx > 0 else 0
        out[:, j] = yj - (yj.mean() - b1 * rj.mean()) - b1 * rj
    return out


CASES = [(300, 40, 3), (2000, 60, 7), (5, 4, 2)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n_cells", "n_genes", "n_cats"), CASES)
@pytest.mark.parametrize("order", ["C", "F"])
def test_regressor_and_residuals(dtype, n_cells, n_genes, n_cats, order):
    rng = np.random.default_rng(n_cells + n_cats)
    x = np.asarray(_logged(rng, n_cells, n_genes, dtype), order=order)
    codes = rng.integers(0, n_cats, n_cells)
    if n_cats > 2:
        codes[codes == 1] = 0  # an unused category
    reg, want = _pristine(x, codes, n_cats)
    counts = np.bincount(codes, minlength=n_cats)
    out = np.empty(x.shape, order="F")
    *_, means = regress.regress_categorical(x, codes, counts, out)
    used = np.unique(codes)
    np.testing.assert_array_equal(means[codes], reg, strict=True)  # bit for bit
    assert np.isnan(means[np.setdiff1d(np.arange(n_cats), used)]).all()
    before = x.copy()
    got = regress.regress_out_categorical(x, codes, n_cats)
    np.testing.assert_array_equal(x, before)  # the input is not touched
    assert got.dtype == np.float64
    assert got.flags.f_contiguous
    np.testing.assert_allclose(got, want, rtol=0, atol=ATOL)
    ref = _reference(x, reg)
    err_ours = np.abs(got - ref).max()
    err_statsmodels = np.abs(want - ref).max()
    assert err_ours <= max(err_statsmodels, 4 * np.finfo(np.float64).eps * 10)


def test_constant_genes_are_kept():
    x = np.full((50, 3), 1.25, dtype=np.float32)
    codes = np.arange(50) % 2
    got = regress.regress_out_categorical(x, codes, 2)
    assert got.dtype == np.float32  # scanpy stacks the kept float32 columns
    _, want = _pristine(x, codes, 2)
    np.testing.assert_array_equal(got, want.astype(np.float32))


def test_thread_counts_agree():
    rng = np.random.default_rng(3)
    x = _logged(rng, 3000, 100, np.float32)
    codes = rng.integers(0, 5, 3000)
    out = []
    for n in (1, 2):
        with thread_limit(n):
            out.append(regress.regress_out_categorical(x, codes, 5))
    np.testing.assert_array_equal(out[0], out[1], strict=True)


def test_equal_category_means_keep_scanpys_fits():
    """One category: statsmodels' singular fit is off by percents; scanpy's code runs."""
    rng = np.random.default_rng(401)
    x = _logged(rng, 400, 10, np.float32)
    codes = np.zeros(400, dtype=np.int64)
    _, want = _pristine(x, codes, 1)
    ref = _reference(x, np.broadcast_to(x.mean(axis=0, dtype=np.float64), x.shape))
    assert np.abs(want - ref).max() > 1e-3  # what the fallback keeps
    with pytest.raises(UnsupportedInputError, match="equal category means"):
        regress.regress_out_categorical(x, codes, 1)
    with pytest.raises(UnsupportedInputError, match="equal category means"):
        regress.regress_out_categorical(x, np.zeros(400, dtype=np.int64), 3)


def test_unsupported_inputs_keep_scanpys_fits():
    rng = np.random.default_rng(4)
    x = _logged(rng, 40, 6, np.float64)
    codes = rng.integers(0, 2, 40)
    bad = x.copy()
    bad[3, 4] = np.nan
    with pytest.raises(UnsupportedInputError, match="NaN"):
        regress.regress_out_categorical(bad, codes, 2)
    with pytest.raises(UnsupportedInputError, match="category"):
        regress.regress_out_categorical(x, np.where(codes == 0, -1, codes), 2)
    with pytest.raises(UnsupportedInputError, match="arrays"):
        regress.regress_out_categorical(x[:, ::2], codes, 2)
    with pytest.raises(UnsupportedInputError, match="arrays"):
        regress.regress_out_categorical(x.astype(np.int64), codes, 2)


# --- continuous keys --------------------------------------------------------------------

#: migration_tests/TOLERANCES.md, family regress, field X, float32 (2 float32 ulp)
RTOL32 = 2.4e-7


def _continuous(rng, n_cells, n_genes, dtype, density=0.3):
    x = np.log1p(rng.negative_binomial(1, 0.4, (n_cells, n_genes))).astype(dtype)
    x[rng.random(x.shape) > density] = 0.0
    x[:, 2] = 0.0  # an empty gene
    r = np.c_[np.ones(n_cells), rng.normal(size=n_cells), rng.gamma(2.0, size=n_cells)]
    return x, r


def _pristine_continuous(x, r):
    return pristine.numpy_regress_out(x.copy(), r)


def _reference_continuous(x, r):
    """``x - R @ lstsq(R, x)`` in extended precision (normal equations, longdouble)."""
    rl, xl = r.astype(np.longdouble), x.astype(np.longdouble)
    gram = rl.T @ rl
    rhs = rl.T @ xl
    # Gauss-Jordan on the small (k, k) system, in longdouble
    k = gram.shape[0]
    aug = np.concatenate([gram, rhs], axis=1)
    for p in range(k):
        aug[p] /= aug[p, p]
        for q in range(k):
            if q != p:
                aug[q] -= aug[q, p] * aug[p]
    return xl - rl @ aug[:, k:]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fmt", ["csr", "dense"])
@pytest.mark.parametrize(("n_cells", "n_genes"), [(2000, 80), (7, 5)])
def test_continuous_residuals(dtype, fmt, n_cells, n_genes):
    """Within the bound of scanpy's; as close as scanpy's to the extended reference."""
    from scipy import sparse

    from scanpy_kernels import as_matrix

    x, r = _continuous(np.random.default_rng(n_cells), n_cells, n_genes, dtype)
    expected = _pristine_continuous(x, r)
    arg = sparse.csr_matrix(x) if fmt == "csr" else x.copy()
    got = regress.regress_out_continuous(as_matrix(arg, stored=True), r)
    assert got.dtype == expected.dtype
    assert got.flags.c_contiguous
    if fmt == "dense":
        assert got is as_matrix(arg).data  # overwritten in place, as scanpy
    rtol = RTOL32 if dtype == np.float32 else 0.0
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=ATOL)
    ref = _reference_continuous(x, r)
    ours = np.abs(got.astype(np.longdouble) - ref).max()
    theirs = np.abs(expected.astype(np.longdouble) - ref).max()
    ulp = np.finfo(dtype).eps * max(1.0, float(np.abs(x).max()))
    assert ours <= theirs + ulp


def test_continuous_thread_counts_agree():
    from scanpy_kernels import as_matrix

    x, r = _continuous(np.random.default_rng(5), 3000, 90, np.float64)
    with thread_limit(1):
        one = regress.regress_out_continuous(as_matrix(x.copy()), r)
    two = regress.regress_out_continuous(as_matrix(x.copy()), r)
    np.testing.assert_array_equal(one, two, strict=True)


def test_continuous_unsupported_inputs_keep_scanpys_code():
    from scipy import sparse

    from scanpy_kernels import as_matrix

    x, r = _continuous(np.random.default_rng(6), 50, 10, np.float32)
    x[0, 0] = 1.0
    csr = sparse.csr_matrix(x)
    before = csr.copy()
    end0 = csr.indptr[1]  # row 0 stores its first entry again, at its end
    dup = sparse.csr_matrix(
        (
            np.insert(csr.data, end0, 1.0),
            np.insert(csr.indices, end0, csr.indices[0]),
            np.r_[csr.indptr[:1], csr.indptr[1:] + 1],
        ),
        shape=csr.shape,
    )
    assert end0 > 0
    assert dup.nnz == csr.nnz + 1
    assert not dup.has_canonical_format
    bad_r = r.copy()
    bad_r[3, 1] = np.nan
    for m, reg in [
        (as_matrix(sparse.csc_matrix(x)), r),
        (as_matrix(dup, stored=True), r),
        (as_matrix(csr), bad_r),
        (as_matrix(csr), r.astype(np.float32)),
        (as_matrix(csr), r[:-1]),
    ]:
        with pytest.raises(UnsupportedInputError):
            regress.regress_out_continuous(m, reg)
    regress.regress_out_continuous(as_matrix(csr, stored=True), r)
    assert (csr != before).nnz == 0  # a CSR matrix is read, not written
