"""Small generated inputs for the verifier's run-time check (1 thread vs all threads).

Negative-binomial-like counts with all-zero genes and cells, as CSR/CSC components or
C-contiguous arrays, f32/f64 data and int32/int64 indices, one and several batches:
:func:`examples` declares a kernel's in the one calling convention
(``(*matrix_args, codes, n_groups, *parameters)``, :func:`..toolkit.matrix_examples`);
the kernels over no matrix have theirs written out.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from .._groups import row_slots
from ..toolkit import matrix_args, matrix_examples

__all__ = [
    "clipped_sums_params",
    "examples",
    "mean_var_params",
    "mean_var_sums_examples",
    "pearson_residual_params",
    "pearson_table_examples",
]

_COMBOS = ((np.float32, np.int32), (np.float64, np.int64))


def _counts(rng, n=240, m=90):
    mu = rng.gamma(0.4, 2.0, m) * rng.lognormal(0.0, 0.5, (n, 1))
    x = rng.negative_binomial(2, 2 / (2 + mu)).astype(np.float64)
    x[:, :3] = 0  # all-zero genes
    x[:2] = 0  # all-zero cells
    return x


def _codes(rng, n, n_batches):
    return (
        np.zeros(n, np.int64)
        if n_batches == 1
        else rng.integers(-1, n_batches, n).astype(np.int64)
    )


def _cases(rng, *, nonzero_cells=False):
    """Yield ``(x, dtype, index, codes, n_batches)``: one count matrix, each layout."""
    x = _counts(rng)
    if nonzero_cells:
        x[:2, 5] = 1.0
    for dtype, index in _COMBOS:
        for n_batches in (1, 3):
            yield x, dtype, index, _codes(rng, x.shape[0], n_batches), n_batches


def examples(fmt, params=None, *, n_groups=True, nonzero_cells=False):
    """Make the ``example`` of an HVG kernel over a matrix stored as ``fmt``.

    ``params(rng, x, codes, n_batches, dtype)``: the parameter tuples after the
    group count (one example each); ``n_groups=False`` for kernels without one.
    """
    cases = partial(_cases, nonzero_cells=nonzero_cells)
    return matrix_examples(cases, fmt, params, n_groups=n_groups)


def clipped_sums_params(rng, x, codes, nb, dtype):
    return [(rng.uniform(0.5, 4.0, (nb, x.shape[1])),)]


def mean_var_params(*_):
    """``correction, count_positive`` of ``mean_var_csc`` / ``mean_var_dense``."""
    return [(1, count_positive) for count_positive in (False, True)]


def mean_var_sums_examples(rng):
    """Make inputs of ``mean_var_csr_sums``: a block of rows added to non-zero sums."""
    out = []
    for x, dtype, index, codes, nb in _cases(rng):
        slots, _ = row_slots(codes, nb, 2)
        # the second half of the rows, as the second block of a blocked pass
        r0 = x.shape[0] // 2
        block = matrix_args(x[r0:], "csr", dtype, index)
        for count_positive in (False, True):
            rec = 3 if count_positive else 2
            sums = rng.uniform(0.0, 10.0, (nb * 2, rec * x.shape[1]))
            out.append((*block, slots[r0:], 2, count_positive, sums))
    return out


def _pearson_inputs(x, dtype, codes, nb):
    sdt = np.float64 if dtype is None else dtype
    sg = np.zeros((nb, x.shape[1]), sdt)
    for b in range(nb):
        sg[b] = x[codes == b].sum(axis=0)
    sc = x.sum(axis=1).astype(sdt)
    tot = np.array([np.float64(sg[b].sum()) for b in range(nb)])
    clip = np.full(nb, np.sqrt(x.shape[0]))
    return sg, sc, tot, clip, 100.0


def pearson_table_examples(rng):
    """Make inputs of ``pearson_zero_table``: the levels of each case's sums."""
    from .pearson import zero_levels

    out = []
    for x, dtype, _, codes, nb in _cases(rng, nonzero_cells=True):
        sg, sc, tot, clip, theta = _pearson_inputs(x, dtype, codes, nb)
        _, levels = zero_levels(codes, nb, sg, sc)
        inputs = (*levels, tot, clip, theta)
        n_lev = levels[4].shape[0]
        for lo, hi in ((0, n_lev), (n_lev // 4, n_lev // 2)):
            out.append((*inputs, lo, hi, np.zeros((n_lev, 3))))
    return out


def pearson_residual_params(fmt, zero_terms):
    """``sums_genes, ..., zero, lo, hi, out`` of ``pearson_residual_var_<fmt>``.

    ``zero_terms`` (``pearson_zero_terms``) computes the last input.
    """

    def params(rng, x, codes, nb, dtype):
        sums_dtype = np.float64 if fmt == "dense" else dtype
        sg, sc, tot, clip, theta = _pearson_inputs(x, sums_dtype, codes, nb)
        zero = zero_terms(codes, nb, sg, sc, tot, clip, theta)
        n_genes = x.shape[1]
        return [
            (sg, sc, tot, clip, theta, zero, lo, hi, np.zeros((nb, n_genes)))
            for lo, hi in ((0, n_genes), (n_genes // 3, n_genes - 7))
        ]

    return params
