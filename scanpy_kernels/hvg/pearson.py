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

A frontend calls, for all batches at once (``m.args``: a matrix's leading arguments,
the batches being the kernels' groups, :mod:`.._groups`):

1. ``pearson_sums_{csr,csc,dense}(*m.args, codes, n_groups)`` ->
   ``sums_genes (n_batches, n_genes)``,
   ``sums_cells (n_rows,)``: in the data dtype for sparse input, as scanpy sums its
   float32 CSC batch (``x_batch.sum(axis=0/1)``; ``mu`` then multiplies float32 sums),
   float64 for dense input (scanpy sums a float64 copy);
2. ``sum_total[b] = np.float64(np.sum(sums_genes[b][sums_genes[b] != 0]))`` and
   ``clip[b]`` (scanpy: ``sqrt(n)`` of the *first* batch when ``clip=None``, reused for
   every batch), in numpy;
3. ``pearson_zero_terms(codes, n_groups, ...)`` -> ``zero`` ``(3, n_batches, n_genes)``;
4. ``pearson_residual_var_{csr,csc,dense}(*m.args, codes, n_groups, ..., zero)`` ->
   ``(n_batches, n_genes)``.

Genes with ``sums_genes[b, j] == 0`` get 0 (scanpy filters them out and fills 0).  A
cell with a zero sum makes every gene's variance NaN, as in scanpy.  Stored values must
be ``>= 0`` (counts; scanpy's sparse loop mis-steps on negative values); explicit zeros
are fine (scanpy eliminates them; they contribute nothing here).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .._columns import (
    column_range,
    csr_entries,
    dense_entries,
    even_column_blocks,
    n_blocks_for,
    no_finish,
    row_span,
    sweep_columns,
    sweep_csr,
    sweep_dense,
)
from .._groups import group_positions
from .._sort import argsort
from ..toolkit import (
    helper,
    kernel,
    routine,
    signatures,
    thread_scratch,
    vectorize,
    zeros1,
    zeros2,
    zeros3,
)
from ._examples import examples, pearson_residual_params, pearson_zero_examples

__all__ = [
    "pearson_residual_var_csc",
    "pearson_residual_var_csr",
    "pearson_residual_var_dense",
    "pearson_sums_csc",
    "pearson_sums_csr",
    "pearson_sums_dense",
    "pearson_zero_terms",
]


# ---------------------------------------------------------------------------- sums
# scanpy sums the batch's CSC matrix in its own dtype: ``x_batch.sum(axis=0)`` (per
# column, stored order) and ``x_batch.sum(axis=1)`` (per row, column order); so do
# these, for any input layout.  Its dense path sums a float64 copy (numpy's pairwise
# sum along columns: equal to these row-order sums for integer counts).
_SUMS = "Tuple(({d}[:, ::1], {d}[::1]))"
#: data, indices, indptr, n_rows, n_cols, codes, n_groups
_SUMS_SPARSE = signatures(
    _SUMS + "({d}[::1], {i}[::1], {i}[::1], int64, int64, int64[::1], int64)"
)
#: x, codes, n_groups
_SUMS_DENSE = signatures(
    "Tuple((float64[:, ::1], float64[::1]))({d}[:, ::1], int64[::1], int64)"
)


@helper
def _gene_add(genes, i, b, j, x):
    """Add value ``x`` to gene ``j``'s sum in batch ``b`` (the sums' dtype)."""
    genes[b, j] += x  # race-free: gene j is the sweep's (its block's or its own)


@helper
def _row_sums(mat, n_rows, n_cols, entries, cells):
    """Each row's sum into ``cells``, in column order and ``cells``' dtype."""
    for i in numba.prange(n_rows):
        vals, _ = entries(mat, i, 0, n_cols)  # the whole row: no search
        acc = cells.dtype.type(0.0)
        for p in range(vals.shape[0]):
            acc += vals[p]
        cells[i] = acc


@kernel(signatures=_SUMS_SPARSE, example=examples("csr"))
def pearson_sums_csr(data, indices, indptr, n_rows, n_cols, codes, n_groups):
    """``(sums_genes (n_groups, n_cols), sums_cells (n_rows,))`` in the data dtype."""
    genes = zeros2(n_groups, n_cols, data.dtype)
    cells = zeros1(n_rows, data.dtype)
    mat = (data, indices, indptr, n_rows, n_cols)
    _row_sums(mat, n_rows, n_cols, csr_entries, cells)
    sweep_csr(data, indices, indptr, n_rows, n_cols, codes, genes, _gene_add, no_finish)
    return genes, cells


@kernel(signatures=_SUMS_SPARSE, example=examples("csc"))
def pearson_sums_csc(data, indices, indptr, n_rows, n_cols, codes, n_groups):
    """Like :func:`pearson_sums_csr` for CSC."""
    genes = zeros2(n_groups, n_cols, data.dtype)
    sweep_columns(data, indices, indptr, n_cols, codes, genes, _gene_add, no_finish)
    # row sums: a column scatter; blocks of rows, each scanning all columns
    cells = zeros1(n_rows, data.dtype)
    bounds = even_column_blocks(n_rows, n_blocks_for(n_rows, 0))
    for k in numba.prange(bounds.shape[0] - 1):
        lo = bounds[k]
        hi = bounds[k + 1]
        for j in range(n_cols if lo < hi else 0):
            p0, p1 = row_span(indices, indptr, j, lo, hi, n_rows)
            for p in range(p0, p1):
                cells[indices[p]] += data[p]  # race-free: block k's own rows
    return genes, cells


@kernel(signatures=_SUMS_DENSE, example=examples("dense"))
def pearson_sums_dense(x, codes, n_groups):
    """Like :func:`pearson_sums_csr` for a C-contiguous dense matrix, in float64."""
    n_rows, n_cols = x.shape
    genes = zeros2(n_groups, n_cols, np.float64)
    cells = zeros1(n_rows, np.float64)
    _row_sums((x, column_range(n_cols)), n_rows, n_cols, dense_entries, cells)
    sweep_dense(x, codes, genes, _gene_add, no_finish)
    return genes, cells


# ------------------------------------------------------------------------- levels
@routine
def _levels(values, groups, n_groups):
    """Distinct values per group: ``(level_of, value, count, group, start)``.

    ``level_of[i]`` is item ``i``'s level (``-1`` if ``groups[i] < 0``); levels of
    group ``g`` are ``start[g]:start[g + 1]``, each with its value and multiplicity.
    """
    n = values.shape[0]
    order = argsort(values)  # stable: equal values keep their order
    start = np.zeros(n_groups + 1, np.int64)
    for i in range(n):
        if groups[i] >= 0:
            start[groups[i] + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    fill = start[:-1].copy()
    grouped = np.empty(start[n_groups], np.int64)
    for q in range(n):  # counting sort by group, stable: values stay sorted
        i = order[q]
        g = groups[i]
        if g >= 0:
            grouped[fill[g]] = i
            fill[g] += 1
    level_of = np.full(n, -1, np.int64)
    value = np.empty(start[n_groups], values.dtype)
    count = np.zeros(start[n_groups])
    group = np.empty(start[n_groups], np.int64)
    lstart = np.zeros(n_groups + 1, np.int64)
    n_levels = 0
    for g in range(n_groups):
        for q in range(start[g], start[g + 1]):
            i = grouped[q]
            if q == start[g] or values[i] != value[n_levels - 1]:
                value[n_levels] = values[i]
                group[n_levels] = g
                n_levels += 1
            count[n_levels - 1] += 1.0
            level_of[i] = n_levels - 1
        lstart[g + 1] = n_levels
    return level_of, value[:n_levels], count[:n_levels], group[:n_levels], lstart


@helper
def _residual(x, g, c, total, clip, theta):
    """Compute scanpy's ``clac_clipped_res_*`` of value ``x``, gene sum ``g``, cell sum ``c``."""
    mu = g * c / total
    pre_res = (x - mu) / math.sqrt(mu + mu * mu / theta)
    return np.float64(min(max(pre_res, -clip), clip))


@routine
def _prepare(codes, n_groups, sums_genes, sums_cells):
    """Distinct cell sums per batch and distinct nonzero gene sums per batch.

    Returns rows per batch, the cell levels (values, counts, per-batch starts), each
    (batch, gene)'s gene level (``-1``: zero sum) and the gene levels' values and
    batches.
    """
    _, n_per_batch = group_positions(codes, n_groups)
    _, c_val, c_cnt, _, c_start = _levels(sums_cells, codes, n_groups)
    n_genes = sums_genes.shape[1]
    flat = sums_genes.ravel()  # C-contiguous: a view
    ggroups = np.empty(flat.shape[0], np.int64)
    for q in range(flat.shape[0]):
        ggroups[q] = q // n_genes if flat[q] != 0.0 else -1
    gene_of, g_val, _, g_grp, _ = _levels(flat, ggroups, n_groups)
    return n_per_batch, c_val, c_cnt, c_start, gene_of, g_val, g_grp


@helper
def _table(
    u, n_per_batch, c_val, c_cnt, c_start, g_val, g_grp, sum_total, clip, theta, z
):
    """Tabulate ``(a, A2, D)`` for gene level ``u``: zero residuals over its batch's cells.

    ``z``: scratch for the batch's cell levels (each zero residual is computed once).
    The sums over cell levels are vectorized (reordered: lanes of float64 on this CPU).
    """
    b = g_grp[u]
    g = g_val[u]
    n = n_per_batch[b]
    cv = c_val[c_start[b] : c_start[b + 1]]
    cc = c_cnt[c_start[b] : c_start[b + 1]]
    total = sum_total[b]
    cl = clip[b]
    a1 = 0.0
    vectorize(z)
    for q in range(cv.shape[0]):
        zq = _residual(0.0, g, cv[q], total, cl, theta)
        z[q] = zq  # race-free: per-thread scratch row
        a1 += cc[q] * zq
    a = a1 / n
    a2 = 0.0
    d = 0.0
    vectorize(z)
    for q in range(cv.shape[0]):
        e = z[q] - a
        a2 += cc[q] * e * e
        d += cc[q] * e
    return a, a2, d


#: codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta
_ZERO = signatures(
    "float64[:, :, ::1](int64[::1], int64, {d}[:, ::1], {d}[::1], float64[::1],"
    " float64[::1], float64)"
)


@kernel(signatures=_ZERO, example=pearson_zero_examples)
def pearson_zero_terms(codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta):
    """Zero-residual terms ``[a, A2, D]``, each ``(n_groups, n_genes)`` (module doc).

    Zero-sum (batch, gene) pairs get zeros.  Cost: per batch, distinct nonzero gene
    sums x distinct cell sums residual evaluations (twice), not cells x genes.
    """
    n_genes = sums_genes.shape[1]
    n_b, c_val, c_cnt, c_start, gene_of, g_val, g_grp = _prepare(
        codes, n_groups, sums_genes, sums_cells
    )
    n_lev = g_val.shape[0]
    max_cells = 0
    for b in range(n_groups):
        max_cells = max(max_cells, c_start[b + 1] - c_start[b])
    z = thread_scratch(max_cells, np.float64)
    table = np.empty((n_lev, 3))
    for u in numba.prange(n_lev):
        a, a2, d = _table(
            u,
            n_b,
            c_val,
            c_cnt,
            c_start,
            g_val,
            g_grp,
            sum_total,
            clip,
            theta,
            z[numba.get_thread_id()],
        )
        table[u, 0] = a  # race-free: level u is the prange index
        table[u, 1] = a2  # race-free: level u is the prange index
        table[u, 2] = d  # race-free: level u is the prange index
    out = zeros3(3, n_groups, n_genes, np.float64)
    for j in numba.prange(n_genes):
        for b in range(n_groups):
            u = gene_of[b * n_genes + j]
            if u >= 0:
                for t in range(3):
                    out[t, b, j] = table[u, t]  # race-free: gene j is the prange index
    return out


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
#: sum_total, clip, theta, zero
_TAIL = (
    "int64[::1], int64, {s}[:, ::1], {s}[::1], float64[::1], float64[::1], float64,"
    " float64[:, :, ::1])"
)
_RES_SPARSE = signatures(
    "float64[:, ::1]({d}[::1], {i}[::1], {i}[::1], int64, int64, "
    + _TAIL.replace("{s}", "{d}")
)
_RES_DENSE = signatures(
    "float64[:, ::1]({d}[:, ::1], " + _TAIL.replace("{s}", "float64")
)


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
        corr[0, b, j] += d1  # race-free: gene j is the sweep's (its block's or its own)
        corr[1, b, j] += d2  # race-free: gene j is the sweep's (its block's or its own)
        corr[2, b, j] += d3  # race-free: gene j is the sweep's (its block's or its own)


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
                state[8][b, j] = v  # race-free: lo <= j < hi, the sweep's own genes


@helper
def _residual_state(
    codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero
):
    """Return the sweep's state: inputs, corrections ``[C1, C2, exact zeros]``, output.

    ``(sums_genes, sums_cells, sum_total, clip, theta, zero, corr, n_b, out)``.
    """
    n_genes = sums_genes.shape[1]
    _, n_b = group_positions(codes, n_groups)
    out = zeros2(n_groups, n_genes, np.float64)
    # per (batch, gene): C1, C2 and the nonzero cells with residual exactly 0
    corr = zeros3(3, n_groups, n_genes, np.float64)
    return (sums_genes, sums_cells, sum_total, clip, theta, zero, corr, n_b, out)


@kernel(signatures=_RES_SPARSE, example=_residual_example("csc"))
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
):
    """Residual variance per (batch, gene) of a CSC count matrix (any index order)."""
    st = _residual_state(
        codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero
    )
    sweep_columns(
        data, indices, indptr, n_cols, codes, st, _residual_add, _residual_done
    )
    return st[8]


@kernel(signatures=_RES_SPARSE, example=_residual_example("csr"))
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
):
    """Residual variance per (batch, gene) of a canonical CSR count matrix."""
    st = _residual_state(
        codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero
    )
    sweep_csr(
        data, indices, indptr, n_rows, n_cols, codes, st, _residual_add, _residual_done
    )
    return st[8]


@kernel(signatures=_RES_DENSE, example=_residual_example("dense"))
def pearson_residual_var_dense(
    x, codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero
):
    """Residual variance per (batch, gene) of a C-contiguous dense count matrix."""
    st = _residual_state(
        codes, n_groups, sums_genes, sums_cells, sum_total, clip, theta, zero
    )
    sweep_dense(x, codes, st, _residual_add, _residual_done)
    return st[8]
