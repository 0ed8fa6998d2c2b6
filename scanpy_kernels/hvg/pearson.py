"""Pearson-residual HVG: per-batch residual variance of each gene, sparse-aware.

scanpy 1.12.4 ``experimental/pp/_highly_variable_genes.py`` (``_calculate_res_sparse``
/ ``_calculate_res_dense``), per batch ``b`` on ``X[codes == b]`` restricted to genes
with a nonzero sum there::

    mu_ij = sums_genes[j] * sums_cells[i] / sum_total
    r_ij  = min(max((x_ij - mu_ij) / sqrt(mu_ij + mu_ij * mu_ij / theta), -clip), clip)
    var_j = mean_i (r_ij - mean_i r_ij) ** 2          # two passes over all n_b cells

Here the cells where ``x_ij == 0`` are never visited.  Their residual
``z(g, c) = clip(-mu / sqrt(mu + mu**2 / theta))`` depends only on the gene's and the
cell's sums, so :func:`pearson_zero_terms` tabulates, per batch and per *distinct*
nonzero gene sum ``g``, over the *distinct* cell sums (count data repeat both a lot;
cost distinct-g x distinct-c, not genes x cells), around the shift
``a = mean_i z(g, c_i)``::

    A2 = sum_i (z_i - a) ** 2,   D = sum_i (z_i - a)             (all cells of b)

and one pass over the stored entries (``pearson_residual_var_*``) adds each nonzero
cell's correction::

    C1 = sum_nz (r - z),         C2 = sum_nz ((r - a) ** 2 - (z - a) ** 2)
    var = (A2 + C2 - n * d ** 2) / n,   d = (D + C1) / n          (d = mean - a)

since ``sum_i (r_i - mean) ** 2 = sum_i (r_i - a) ** 2 - n (mean - a) ** 2``.  Sums are
grouped differently from scanpy's, so results agree to rounding: measured max relative
difference 7e-15 (tests assert < 1e-12); the bound grows with ``max z**2 / var``, at
most about ``min(mu, theta)``.  The sums over cell levels in :func:`pearson_zero_terms`
are vectorized (reordered in lanes of the CPU's vector width: 7.6x faster on 50,000 x
20,000), so their last bits may differ between CPUs; never between thread counts.

The driver (``drivers.pearson_residual_variances``) calls, for all batches at once
(the batches being the kernels' groups, :mod:`.._groups`):

1. :func:`pearson_sums` ``(m, codes, n_groups)`` -> ``sums_genes (n_batches,
   n_genes)``, ``sums_cells (n_rows,)``: in the data dtype for sparse input (scipy's
   products, as scanpy sums its float32 CSC batch with ``x_batch.sum(axis=0/1)``;
   ``mu`` then multiplies float32 sums), float64 for dense input (scanpy sums a
   float64 copy);
2. ``sum_total[b] = np.float64(np.sum(sums_genes[b][sums_genes[b] != 0]))`` and
   ``clip[b]`` (scanpy: ``sqrt(n)`` of the *first* batch when ``clip=None``, reused for
   every batch), in numpy;
3. :func:`pearson_zero_terms` -> ``zero`` ``(3, n_batches, n_genes)``: the levels in
   numpy, the table in :func:`pearson_zero_table` over ranges of gene levels;
4. :func:`pearson_residual_var` -> ``(n_batches, n_genes)``:
   ``pearson_residual_var_{csr,csc,dense}`` over ranges of genes.

Steps 3 and 4 are serial builds that the driver splits over threads
(``toolkit.split_range``); each level or gene is computed whole in one range, so any
split gives the same bits.  Compile time of the flavor's first call on an empty cache
(float32 CSR, ``benchmarks/compile_time.py --hvg``): 11.5 s with the three parallel
kernels (sums, a zero-terms kernel that also sorted the levels, the residual sweep),
4.1 s now (pristine scanpy: 3.3 s).  Per call on 50,000 x 20,000 (2 threads) the
serial scipy sums cost 0.06-0.07 s more (0.51-0.55 -> 0.58 s; 4 batches 0.58 ->
0.65 s; pristine: 13.8 s).

Genes with ``sums_genes[b, j] == 0`` get 0 (scanpy filters them out and fills 0).  A
cell with a zero sum makes every gene's variance NaN, as in scanpy.  Stored values must
be ``>= 0`` (counts; scanpy's sparse loop mis-steps on negative values); explicit zeros
are fine (scanpy eliminates them; they contribute nothing here).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numba
import numpy as np
from scipy import sparse

from .._columns import (
    SPLIT_VALUES,
    column_range,
    csr_entries,
    dense_entries,
    no_finish,
    one_block,
    split_columns,
    sweep_blocks,
    sweep_column_range,
    sweep_dense,
)
from .._groups import group_positions
from ..toolkit import (
    helper,
    kernel,
    signatures,
    split_range,
    vectorize,
    zeros1,
    zeros2,
    zeros3,
)
from ._examples import examples, pearson_residual_params, pearson_table_examples

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from .._input import Matrix

__all__ = [
    "pearson_residual_var",
    "pearson_residual_var_csc",
    "pearson_residual_var_csr",
    "pearson_residual_var_dense",
    "pearson_sums",
    "pearson_sums_dense",
    "pearson_zero_table",
    "pearson_zero_terms",
    "zero_levels",
]


# ---------------------------------------------------------------------------- sums
# scanpy sums each batch's CSC matrix in its own dtype: ``x_batch.sum(axis=0)`` (per
# column, stored order) and ``x_batch.sum(axis=1)`` (per row, column order), scipy's
# ``csr_matvec``/``csc_matvec`` with a vector of ones.  Its dense path sums a float64
# copy (numpy's pairwise sum along columns: equal to the kernel's row-order sums for
# integer counts).
#: x, codes, n_groups
_SUMS_DENSE = signatures(
    "Tuple((float64[:, ::1], float64[::1]))({d}[:, ::1], int64[::1], int64)"
)


@helper
def _gene_add(genes, i, b, j, x):
    """Add value ``x`` to gene ``j``'s sum in batch ``b`` (the sums' dtype)."""
    genes[b, j] += x  # race-free: gene j is the sweep's (its block's or its own)


@kernel(signatures=_SUMS_DENSE, example=examples("dense"))
def pearson_sums_dense(x, codes, n_groups):
    """``(sums_genes (n_groups, n_cols), sums_cells (n_rows,))`` of an array, float64."""
    n_rows, n_cols = x.shape
    genes = zeros2(n_groups, n_cols, np.float64)
    cells = zeros1(n_rows, np.float64)
    for i in numba.prange(n_rows):
        acc = 0.0
        for j in range(n_cols):  # each row's sum in column order
            acc += x[i, j]
        cells[i] = acc  # race-free: row i is the prange index
    sweep_dense(x, codes, genes, _gene_add, no_finish)
    return genes, cells


def pearson_sums(
    m: Matrix, codes: NDArray[np.int64], n_groups: int
) -> tuple[NDArray[np.floating], NDArray[np.floating]]:
    """Return ``(sums_genes (n_groups, n_cols), sums_cells (n_rows,))`` as scanpy sums.

    CSR/CSC (sorted indices): scipy's own products, in the data dtype, as scanpy's
    ``x_batch.sum(axis=...)``: ``X @ 1`` sums each row in column order, ``X^T @ B``
    (``B[i, b] = 1`` where ``codes[i] == b``, else 0) each (batch, gene) in row order
    (the other batches' values times 0 add ``+0.0``: the counts are finite and
    ``>= 0``).  Nothing to compile; serial (on 50,000 x 20,000 at 7%: 0.14 s, 0.18 s
    with 4 batches, against 0.09 s for a 2-thread kernel that compiled for 2.7 s).
    Arrays: :func:`pearson_sums_dense`.
    """
    if m.fmt == "dense":
        return pearson_sums_dense(*m.args, codes, n_groups)
    cls = sparse.csr_array if m.fmt == "csr" else sparse.csc_array
    x = cls((m.data, m.indices, m.indptr), shape=m.shape)
    cells = x @ np.ones(m.shape[1], m.data.dtype)
    in_batch = np.flatnonzero(codes >= 0)
    if n_groups == 1 and in_batch.size == m.shape[0]:
        return (x.T @ np.ones(m.shape[0], m.data.dtype))[np.newaxis], cells
    indicator = np.zeros((m.shape[0], n_groups), m.data.dtype)
    indicator[in_batch, codes[in_batch]] = 1
    return np.ascontiguousarray((x.T @ indicator).T), cells


# ------------------------------------------------------------------------- levels
def _levels(values, groups, n_groups):
    """Distinct values per group: ``(level_of, value, count, group, start)``.

    ``level_of[i]`` is item ``i``'s level (``-1`` if ``groups[i] < 0``); levels of
    group ``g`` are ``start[g]:start[g + 1]``, in ascending order of their values,
    each with its value (the first item's, in index order) and multiplicity.  O(n log
    n) numpy on O(cells + batches x genes) items (rule 1 of the kernel guide).
    """
    items = np.flatnonzero(groups >= 0)
    # stable: by group, then value (NaN last), then index
    order = items[np.lexsort((values[items], groups[items]))]
    v = values[order]
    g = groups[order]
    new = np.ones(order.size, bool)
    new[1:] = (g[1:] != g[:-1]) | (v[1:] != v[:-1])
    level_of = np.full(values.shape[0], -1, np.int64)
    level_of[order] = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    count = np.diff(np.append(first, order.size)).astype(np.float64)
    group = g[first]
    start = np.searchsorted(group, np.arange(n_groups + 1)).astype(np.int64)
    return level_of, v[first], count, group, start


@helper
def _residual(x, g, c, total, clip, theta):
    """Compute scanpy's ``clac_clipped_res_*`` of value ``x``, gene sum ``g``, cell sum ``c``."""
    mu = g * c / total
    pre_res = (x - mu) / math.sqrt(mu + mu * mu / theta)
    return np.float64(min(max(pre_res, -clip), clip))


#: n_per_batch, c_val, c_cnt, c_start, g_val, g_grp, sum_total, clip, theta, lo, hi,
#: table
_TABLE = signatures(
    "none(int64[::1], {d}[::1], float64[::1], int64[::1], {d}[::1], int64[::1],"
    " float64[::1], float64[::1], float64, int64, int64, float64[:, ::1])"
)


@kernel(signatures=_TABLE, example=pearson_table_examples, parallel=False)
def pearson_zero_table(
    n_per_batch,
    c_val,
    c_cnt,
    c_start,
    g_val,
    g_grp,
    sum_total,
    clip,
    theta,
    lo,
    hi,
    table,
):
    """Write ``(a, A2, D)`` of gene levels ``lo <= u < hi`` into ``table[u]``.

    Gene level ``u`` (a distinct nonzero gene sum ``g_val[u]`` of batch ``g_grp[u]``)
    against the batch's cell levels ``c_start[b]:c_start[b + 1]`` (distinct cell sums
    ``c_val``, multiplicities ``c_cnt``); ``n_per_batch``: cells per batch.  Each zero
    residual is computed once into a scratch row; the sums over cell levels are
    vectorized (reordered: lanes of float64 on this CPU).  A serial build: the driver
    splits the levels over threads.
    """
    max_cells = 0
    for b in range(n_per_batch.shape[0]):
        max_cells = max(max_cells, c_start[b + 1] - c_start[b])
    z = zeros1(max_cells, np.float64)
    for u in range(lo, hi):
        b = g_grp[u]
        g = g_val[u]
        cv = c_val[c_start[b] : c_start[b + 1]]
        cc = c_cnt[c_start[b] : c_start[b + 1]]
        total = sum_total[b]
        cl = clip[b]
        a1 = 0.0
        vectorize(z)
        for q in range(cv.shape[0]):
            zq = _residual(0.0, g, cv[q], total, cl, theta)
            z[q] = zq
            a1 += cc[q] * zq
        a = a1 / n_per_batch[b]
        a2 = 0.0
        d = 0.0
        vectorize(z)
        for q in range(cv.shape[0]):
            e = z[q] - a
            a2 += cc[q] * e * e
            d += cc[q] * e
        table[u, 0] = a
        table[u, 1] = a2
        table[u, 2] = d


def zero_levels(
    codes: NDArray[np.int64],
    n_groups: int,
    sums_genes: NDArray[np.floating],
    sums_cells: NDArray[np.floating],
) -> tuple[NDArray[np.int64], tuple[NDArray, ...]]:
    """Return each (batch, gene)'s gene level and :func:`pearson_zero_table`'s levels.

    ``(gene_of, (n_per_batch, c_val, c_cnt, c_start, g_val, g_grp))``: ``gene_of``
    ``(n_groups * n_genes,)`` is -1 for a zero gene sum; the cells per batch, the
    distinct cell sums per batch (values, multiplicities, per-batch starts) and the
    distinct nonzero gene sums with their batches.
    """
    n_per_batch = np.bincount(codes[codes >= 0], minlength=n_groups).astype(np.int64)
    _, c_val, c_cnt, _, c_start = _levels(sums_cells, codes, n_groups)
    flat = sums_genes.ravel()  # C-contiguous: a view
    batch_of = np.repeat(np.arange(n_groups, dtype=np.int64), sums_genes.shape[1])
    batch_of[flat == 0] = -1
    gene_of, g_val, _, g_grp, _ = _levels(flat, batch_of, n_groups)
    return gene_of, (n_per_batch, c_val, c_cnt, c_start, g_val, g_grp)


def pearson_zero_terms(
    codes: NDArray[np.int64],
    n_groups: int,
    sums_genes: NDArray[np.floating],
    sums_cells: NDArray[np.floating],
    sum_total: NDArray[np.float64],
    clip: NDArray[np.float64],
    theta: float,
) -> NDArray[np.float64]:
    """Zero-residual terms ``[a, A2, D]``, each ``(n_groups, n_genes)`` (module doc).

    Zero-sum (batch, gene) pairs get zeros.  Cost: per batch, distinct nonzero gene
    sums x distinct cell sums residual evaluations (twice, in
    :func:`pearson_zero_table`), not cells x genes; the levels are numpy
    (:func:`zero_levels`).
    """
    gene_of, levels = zero_levels(codes, n_groups, sums_genes, sums_cells)
    c_val, g_val = levels[1], levels[4]  # the distinct cell sums and gene sums
    table = np.empty((g_val.shape[0], 3))
    split_range(
        lambda lo, hi: pearson_zero_table(
            *levels, sum_total, clip, theta, lo, hi, table
        ),
        g_val.shape[0],
        min_size=max(SPLIT_VALUES // max(c_val.shape[0], 1), 1),
    )
    out = np.zeros((3, gene_of.shape[0]))
    nonzero = gene_of >= 0
    out[:, nonzero] = table[gene_of[nonzero]].T
    return out.reshape(3, n_groups, sums_genes.shape[1])


@helper
def _corrections(x, g, c, total, clip, theta, a):
    """Return a nonzero cell's ``(r - z, (r - a)**2 - (z - a)**2, r == 0)``.

    ``r``: its residual; the last entry counts the cells whose residual is exactly 0.
    """
    raw = _residual(x, g, c, total, clip, theta)
    r = raw - a
    z = _residual(0.0, g, c, total, clip, theta) - a
    return r - z, r * r - z * z, np.float64(raw == 0.0)


@helper
def _finish(n, a2, d, c1, c2, exact_zeros):
    """``sum_i (r_i - mean)**2 / n`` from the zero terms and the corrections.

    When every one of the ``n`` cells is nonzero with a residual of exactly 0 (a
    gene whose counts follow the cells' sums exactly, e.g. a constant matrix),
    scanpy's two passes give exactly 0; the regrouped sums would leave rounding
    noise (+-1e-14), so that case is returned exactly.
    """
    if exact_zeros == n:
        return 0.0
    dm = (d + c1) / n  # mean - shift
    return (a2 + c2 - n * dm * dm) / n


#: ..., codes, n_groups, sums_genes, sums_cells (data dtype; dense: float64),
#: sum_total, clip, theta, zero, lo, hi, out
_TAIL = (
    "int64[::1], int64, {s}[:, ::1], {s}[::1], float64[::1], float64[::1], float64,"
    " float64[:, :, ::1], int64, int64, float64[:, ::1])"
)
_RES_SPARSE = signatures(
    "none({d}[::1], {i}[::1], {i}[::1], int64, int64, " + _TAIL.replace("{s}", "{d}")
)
_RES_DENSE = signatures("none({d}[:, ::1], " + _TAIL.replace("{s}", "float64"))


def _residual_example(fmt):
    params = pearson_residual_params(fmt, pearson_zero_terms)
    return examples(fmt, params, nonzero_cells=True)


@helper
def _residual_add(state, i, b, j, x):
    """Add nonzero cell ``i``'s corrections to (batch ``b``, gene ``j``)."""
    sums_genes = state[0]  # the layout: _residual_state; by index (see .._columns)
    corr = state[6]
    xv = np.float64(x)
    if xv != 0.0 and sums_genes[b, j] != 0:
        # gene and cell sums, the batch's total and clip, theta, the shift a
        d1, d2, d3 = _corrections(
            xv,
            sums_genes[b, j],
            state[1][i],
            state[2][b],
            state[3][b],
            state[4],
            state[5][0, b, j],
        )
        corr[0, b, j] += d1  # race-free: gene j is the range's own
        corr[1, b, j] += d2  # race-free: gene j is the range's own
        corr[2, b, j] += d3  # race-free: gene j is the range's own


@helper
def _residual_done(state, lo, hi):
    """Write the variances of genes ``lo <= j < hi`` (zero terms and corrections)."""
    sums_genes = state[0]
    zero = state[5]
    corr = state[6]
    n_b = state[7]  # rows per batch
    for b in range(sums_genes.shape[0]):
        for j in range(lo, hi):
            if sums_genes[b, j] != 0:
                v = _finish(
                    n_b[b],
                    zero[1, b, j],
                    zero[2, b, j],
                    corr[0, b, j],
                    corr[1, b, j],
                    corr[2, b, j],
                )
                state[8][b, j] = v  # race-free: lo <= j < hi, the range's own genes


@helper
def _residual_state(
    codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero, out
):
    """Return the sweep's state: inputs, corrections ``[C1, C2, exact zeros]``, output.

    ``(sums_genes, sums_cells, sum_total, clip, theta, zero, corr, n_b, out)``.
    """
    n_genes = sums_genes.shape[1]
    _, n_b = group_positions(codes, n_groups)
    # per (batch, gene): C1, C2 and the nonzero cells with residual exactly 0
    corr = zeros3(3, n_groups, n_genes, np.float64)
    return (sums_genes, sums_cells, sum_total, clip, theta, zero, corr, n_b, out)


# The passes over the stored entries are serial builds over a range of genes, which
# the driver splits over threads (toolkit.split_range): each gene sees its cells in
# row order in one range, so any split gives the same bits, and a serial build
# compiles in a fraction of a prange's time (docs/kernel-guide.md, "Compile time").
@kernel(signatures=_RES_SPARSE, example=_residual_example("csc"), parallel=False)
def pearson_residual_var_csc(
    data,
    indices,
    indptr,
    n_rows,
    n_cols,
    codes,
    n_groups,
    sums_genes,
    sums_cells,
    sum_total,
    clip,
    theta,
    zero,
    lo,
    hi,
    out,
):
    """Write the residual variances of genes ``lo <= j < hi`` of a CSC count matrix."""
    st = _residual_state(
        codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero, out
    )
    # each column in stored order (sorted: row order)
    sweep_column_range(
        data, indices, indptr, lo, hi, codes, st, _residual_add, _residual_done
    )


@kernel(signatures=_RES_SPARSE, example=_residual_example("csr"), parallel=False)
def pearson_residual_var_csr(
    data,
    indices,
    indptr,
    n_rows,
    n_cols,
    codes,
    n_groups,
    sums_genes,
    sums_cells,
    sum_total,
    clip,
    theta,
    zero,
    lo,
    hi,
    out,
):
    """Write the residual variances of genes ``lo <= j < hi`` of a canonical CSR matrix."""
    st = _residual_state(
        codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero, out
    )
    mat = (data, indices, indptr, n_rows, n_cols)
    bounds = one_block(lo, hi)
    sweep_blocks(mat, bounds, codes, st, csr_entries, _residual_add, _residual_done)


@kernel(signatures=_RES_DENSE, example=_residual_example("dense"), parallel=False)
def pearson_residual_var_dense(
    x,
    codes,
    n_groups,
    sums_genes,
    sums_cells,
    sum_total,
    clip,
    theta,
    zero,
    lo,
    hi,
    out,
):
    """Write the residual variances of genes ``lo <= j < hi`` of a C-contiguous array."""
    st = _residual_state(
        codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero, out
    )
    mat = (x, column_range(x.shape[1]))
    bounds = one_block(lo, hi)
    sweep_blocks(mat, bounds, codes, st, dense_entries, _residual_add, _residual_done)


def pearson_residual_var(
    m: Matrix,
    codes: NDArray[np.int64],
    n_groups: int,
    sums_genes: NDArray[np.floating],
    sums_cells: NDArray[np.floating],
    sum_total: NDArray[np.float64],
    clip: NDArray[np.float64],
    theta: float,
    zero: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Residual variance per (batch, gene) of ``m`` (CSR canonical, CSC sorted, array).

    The ``pearson_residual_var_<fmt>`` kernel over ranges of genes
    (``_columns.split_columns``).  Returns ``(n_groups, n_genes)``.
    """
    kernel_ = {
        "csr": pearson_residual_var_csr,
        "csc": pearson_residual_var_csc,
        "dense": pearson_residual_var_dense,
    }[m.fmt]
    inputs = (codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero)
    out = np.zeros((n_groups, m.shape[1]))
    split_columns(lambda lo, hi: kernel_(*m.args, *inputs, lo, hi, out), m)
    return out
