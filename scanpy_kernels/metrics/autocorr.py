"""Moran's I and Geary's C of many features on one cell graph, a block of features at a time.

Reproduces scanpy 1.12.4 ``metrics/_morans_i.py`` and ``metrics/_gearys_c.py`` for a
two-dimensional ``vals`` (features x cells, float64 after scanpy's ``astype``), the
``_*_mtx`` and ``_*_mtx_csr`` kernels.  Per feature ``k`` with values ``x`` (a sparse
row scattered into a zero vector, ``x[indices] = data``: the last of duplicate
entries wins), graph ``g`` (CSR, float64) and ``W = g.data.sum()`` (numba's
sequential sum, :func:`graph_weight`; the driver passes it):

- Moran's I (``_morans_i_vec_w``): ``z = x - x.mean()``; ``z2ss = (z * z).sum()``;
  ``inum += (g.data[row] * z[g.indices[row]]).sum() * z[i]`` over the rows ``i``;
  ``I = len(x) / W * inum / z2ss``.
- Geary's C (``_gearys_c_inner_sparse_x_densevec`` / ``..._sparsevec``):
  ``total += (g.data[row] * (x[i] - x[g.indices[row]]) ** 2).sum()``;
  ``C = (n - 1) * total / (2 * W * S)`` with ``S = ((x - x.mean()) ** 2).sum()`` for
  dense ``vals`` and, for sparse ``vals``, from the stored values in stored order
  (``x_bar = sum(data) / n``, ``S = sum(data**2) - sum(data * x_bar * 2) +
  x_bar**2 * n``).

numba's ``sum``/``mean`` add one element after the other from ``0.0``, and scanpy's
inner functions are serial, so every sum here is sequential in scanpy's order: the
results are bitwise scanpy's.  scanpy walks the graph once per feature, allocating two
temporaries per row; here :data:`BLOCK` features share one walk: their values sit side
by side per cell (``z[cell * BLOCK + lane]``), so a graph entry costs one 64-byte
line and ``BLOCK`` independent multiply-adds into sums held in registers, and the
features' arithmetic stays independent, lane by lane.  The kernels are parallel over the blocks (each in its
thread's scratch), so the thread count does not change a bit.

The kernels take the values first (``vals``' CSR components or the 2D array in any
memory order), then the graph's components and ``W``, then the range
``lo <= k < hi`` of features they write into ``out``.  They read indices without
checks: the driver checks that every index lies inside its matrix.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np

from ..toolkit import (
    helper,
    kernel,
    matrix_args,
    prefetch,
    signatures,
    thread_scratch,
)

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "BLOCK",
    "gearys_c_csr",
    "gearys_c_dense",
    "graph_weight",
    "morans_i_csr",
    "morans_i_dense",
]

#: features per walk over the graph: a 64-byte cache line of float64 per cell
BLOCK = 8
#: neighbours ahead whose values :func:`prefetch` asks for (a kNN graph's neighbours
#: are anywhere: measured 4.6 -> 3.3-4.4 ns per neighbour and block, 4 and 16 no better)
AHEAD = 8

#: vals (data, indices, indptr, n_features, n_cells), graph (data, indices, indptr),
#: W, lo, hi, out
_CSR_SIGS = signatures(
    "none({d}[::1], {i}[::1], {i}[::1], int64, int64, float64[::1], {i}[::1], "
    "{i}[::1], float64, int64, int64, float64[::1])"
)
#: vals (n_features, n_cells) in any memory order, graph, W, lo, hi, out
_DENSE_SIGS = signatures(
    "none({d}[:, :], float64[::1], {i}[::1], {i}[::1], float64, int64, int64, "
    "float64[::1])"
)


def graph_weight(g_data: NDArray[np.float64]) -> float:
    """``W = g.data.sum()`` as numba's ``sum`` adds: in order, from 0.0.

    (``np.cumsum`` adds in order; numpy's ``sum`` is pairwise.)  scanpy's ``_*_mtx``
    kernels, being parallel, split this sum over numba's threads: with one thread
    they take this value.
    """
    return float(np.cumsum(g_data)[-1]) if g_data.size else 0.0


def _graph(rng, n, index):
    """Return a kNN-like weighted graph: 0-4 neighbours a cell, a self-loop, a duplicate."""
    g = np.zeros((n, n))
    for i in range(n):
        for j in rng.choice(n, rng.integers(0, 5), replace=False):
            g[i, j] = rng.random()
    g[3, 3] = 0.5
    data, indices, indptr, _, _ = matrix_args(g, "csr", np.float64, index)
    a = indptr[7]  # row 7 stores its first neighbour twice
    if indptr[8] - a >= 2:
        indices[a + 1] = indices[a]
    return data, indices, indptr


def _values(rng):
    """Features x cells: log-like values, a constant feature, NaN, a row of zeros."""
    x = np.log1p(rng.negative_binomial(1, 0.3, (21, 60)).astype(np.float64))
    x[rng.random(x.shape) < 0.5] = 0.0
    x[2] = 1.5
    x[5, 7] = np.nan
    x[9] = 0.0
    return x


def _csr_example(rng):
    out = []
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = _values(rng)
        args = matrix_args(x, "csr", dtype, index)
        a = args[2][4]  # feature 4 stores its first cell twice (the last value wins)
        if args[2][5] - a >= 2:
            args[1][a + 1] = args[1][a]
        graph = _graph(rng, x.shape[1], index)
        w = graph_weight(graph[0])
        for lo, hi in ((0, x.shape[0]), (3, 12)):
            out.append((*args, *graph, w, lo, hi, np.zeros(x.shape[0])))
    return out


def _dense_example(rng):
    out = []
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = _values(rng).astype(dtype)
        graph = _graph(rng, x.shape[1], index)
        w = graph_weight(graph[0])
        out.extend(
            (vals, *graph, w, 0, x.shape[0], np.zeros(x.shape[0]))
            for vals in (x, np.asfortranarray(x))  # scanpy's vals: X.T, Fortran order
        )
    return out


#: the lanes' running sums of a row's neighbours, as numba's ``sum`` starts them
_ZERO = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


# The lanes of a row's sums are a tuple, not an array: LLVM keeps them in one vector
# register (stores into an array it would have to assume alias ``z``, and the walk
# would stay scalar).  Each lane adds in scanpy's order.
@helper
def _lanes(z, s):
    """``z[s:s + BLOCK]`` as a tuple."""
    return (z[s], z[s + 1], z[s + 2], z[s + 3], z[s + 4], z[s + 5], z[s + 6], z[s + 7])


@helper
def _weighted_add(r, a, z, s):
    """``r[b] + a * z[s + b]`` per lane (Moran: ``i_data * z[i_indices]``, summed)."""
    return (
        r[0] + a * z[s],
        r[1] + a * z[s + 1],
        r[2] + a * z[s + 2],
        r[3] + a * z[s + 3],
        r[4] + a * z[s + 4],
        r[5] + a * z[s + 5],
        r[6] + a * z[s + 6],
        r[7] + a * z[s + 7],
    )


@helper
def _squared_add(r, a, zi, z, s):
    """``r[b] + a * (zi[b] - z[s + b]) ** 2`` per lane (Geary's numerator terms)."""
    return (
        r[0] + a * _square(zi[0] - z[s]),
        r[1] + a * _square(zi[1] - z[s + 1]),
        r[2] + a * _square(zi[2] - z[s + 2]),
        r[3] + a * _square(zi[3] - z[s + 3]),
        r[4] + a * _square(zi[4] - z[s + 4]),
        r[5] + a * _square(zi[5] - z[s + 5]),
        r[6] + a * _square(zi[6] - z[s + 6]),
        r[7] + a * _square(zi[7] - z[s + 7]),
    )


@helper
def _square(d):
    return d * d


@helper
def _span(lo, hi, blk):
    """Block ``blk`` of ``lo <= k < hi``: its first feature and how many it has."""
    k0 = lo + blk * BLOCK
    return k0, min(BLOCK, hi - k0)


@helper
def _dense_block(x, k0, nb, z):
    """Put features ``k0 .. k0 + nb - 1`` of ``x`` side by side in ``z`` (float64)."""
    for i in range(x.shape[1]):
        for b in range(BLOCK):
            z[i * BLOCK + b] = np.float64(x[k0 + b, i]) if b < nb else 0.0


@helper
def _csr_block(data, indices, indptr, k0, nb, z):
    """Scatter rows ``k0 .. k0 + nb - 1`` into the zeroed ``z`` (stored order)."""
    z[:] = 0.0
    for b in range(nb):
        for p in range(indptr[k0 + b], indptr[k0 + b + 1]):
            z[indices[p] * BLOCK + b] = np.float64(data[p])


@helper
def _lane_means(z, n, mean):
    """``mean[b] = x.mean()`` of each lane: sequential sums from 0.0, over ``n``."""
    mean[:] = 0.0
    for i in range(n):
        for b in range(BLOCK):
            mean[b] += z[i * BLOCK + b]
    for b in range(BLOCK):
        mean[b] = mean[b] / n


@helper
def _moran_block(z, n, g_data, g_indices, g_indptr, w, k0, nb, acc, out):
    """Moran's I of the ``nb`` lanes of ``z``, written to ``out[k0:k0 + nb]``."""
    mean = acc[0:BLOCK]
    z2ss = acc[BLOCK : 2 * BLOCK]
    inum = acc[2 * BLOCK : 3 * BLOCK]
    _lane_means(z, n, mean)
    z2ss[:] = 0.0
    for i in range(n):  # z = (x - x.mean()); z2ss = (z * z).sum()
        for b in range(BLOCK):
            v = z[i * BLOCK + b] - mean[b]
            z[i * BLOCK + b] = v
            z2ss[b] += v * v
    inum[:] = 0.0
    last = g_indices.shape[0] - 1
    for i in range(n):  # inum += (i_data * z[i_indices]).sum() * z[i]
        r = _ZERO
        for p in range(g_indptr[i], g_indptr[i + 1]):
            prefetch(z, g_indices[min(p + AHEAD, last)] * BLOCK)
            r = _weighted_add(r, g_data[p], z, g_indices[p] * BLOCK)
        for b in range(BLOCK):
            inum[b] += r[b] * z[i * BLOCK + b]
    for b in range(nb):  # len(x) / w * inum / z2ss
        out[k0 + b] = n / w * inum[b] / z2ss[b]  # race-free: the block's own features


@helper
def _geary_total(z, n, g_data, g_indices, g_indptr, acc):
    """``total = sum_i (i_data * (x[i] - x[i_indices]) ** 2).sum()`` per lane in ``acc``."""
    total = acc[0:BLOCK]
    total[:] = 0.0
    last = g_indices.shape[0] - 1
    for i in range(n):
        zi = _lanes(z, i * BLOCK)
        r = _ZERO
        for p in range(g_indptr[i], g_indptr[i + 1]):
            prefetch(z, g_indices[min(p + AHEAD, last)] * BLOCK)
            r = _squared_add(r, g_data[p], zi, z, g_indices[p] * BLOCK)
        for b in range(BLOCK):
            total[b] += r[b]


@helper
def _geary_sparse_denominators(data, indptr, n, w, k0, nb, acc, out):
    """``C = (n - 1) * total / denom``, the denominator from the stored values.

    scanpy's ``_gearys_c_inner_sparse_x_sparsevec``: ``x_bar = np.sum(x_data) / n``;
    ``denom = 2 * w * (np.sum(x_data ** 2) - np.sum(x_data * x_bar * 2) +
    (x_bar ** 2) * n)``, each sum in stored order.
    """
    for b in range(nb):
        p0 = indptr[k0 + b]
        p1 = indptr[k0 + b + 1]
        s = 0.0
        for p in range(p0, p1):
            s += np.float64(data[p])
        x_bar = s / n
        sq = 0.0
        lin = 0.0
        for p in range(p0, p1):
            v = np.float64(data[p])
            sq += v * v
            lin += v * x_bar * 2
        denom = 2 * w * (sq - lin + (x_bar * x_bar) * n)
        out[k0 + b] = (n - 1) * acc[b] / denom  # race-free: the block's own features


@helper
def _geary_dense_denominators(z, n, w, k0, nb, acc, out):
    """``C = (n - 1) * total / (2 * w * ((x - x_bar) ** 2).sum())`` per lane."""
    mean = acc[BLOCK : 2 * BLOCK]
    ss = acc[2 * BLOCK : 3 * BLOCK]
    _lane_means(z, n, mean)
    ss[:] = 0.0
    for i in range(n):
        for b in range(BLOCK):
            d = z[i * BLOCK + b] - mean[b]
            ss[b] += d * d
    for b in range(nb):
        c = (n - 1) * acc[b] / (2 * w * ss[b])
        out[k0 + b] = c  # race-free: the block's own features


# Each kernel is parallel over the blocks of BLOCK features in ``lo <= k < hi``; a
# block's lanes and sums live in its thread's scratch rows (``numba.get_thread_id``).
@helper
def _moran(zs, accs, n, g_data, g_indices, g_indptr, w, k0, nb, out):
    """Moran's I of the block at ``k0`` (``nb`` features) from its thread's lanes."""
    tid = numba.get_thread_id()
    _moran_block(zs[tid], n, g_data, g_indices, g_indptr, w, k0, nb, accs[tid], out)


@kernel(signatures=_CSR_SIGS, example=_csr_example)
def morans_i_csr(data, indices, indptr, n_rows, n_cols, g_data, g_indices, g_indptr, w, lo, hi, out):  # fmt: skip
    """Moran's I of rows ``lo <= k < hi`` of CSR ``vals`` (scanpy's ``_morans_i_mtx_csr``)."""
    zs = thread_scratch(n_cols * BLOCK, np.float64)
    accs = thread_scratch(3 * BLOCK, np.float64)
    for blk in numba.prange((hi - lo + BLOCK - 1) // BLOCK):
        k0, nb = _span(lo, hi, blk)
        _csr_block(data, indices, indptr, k0, nb, zs[numba.get_thread_id()])
        _moran(zs, accs, n_cols, g_data, g_indices, g_indptr, w, k0, nb, out)


@kernel(signatures=_DENSE_SIGS, example=_dense_example)
def morans_i_dense(x, g_data, g_indices, g_indptr, w, lo, hi, out):
    """Moran's I of rows ``lo <= k < hi`` of dense ``vals`` (scanpy's ``_morans_i_mtx``)."""
    zs = thread_scratch(x.shape[1] * BLOCK, np.float64)
    accs = thread_scratch(3 * BLOCK, np.float64)
    for blk in numba.prange((hi - lo + BLOCK - 1) // BLOCK):
        k0, nb = _span(lo, hi, blk)
        _dense_block(x, k0, nb, zs[numba.get_thread_id()])
        _moran(zs, accs, x.shape[1], g_data, g_indices, g_indptr, w, k0, nb, out)


@kernel(signatures=_CSR_SIGS, example=_csr_example)
def gearys_c_csr(data, indices, indptr, n_rows, n_cols, g_data, g_indices, g_indptr, w, lo, hi, out):  # fmt: skip
    """Geary's C of rows ``lo <= k < hi`` of CSR ``vals`` (``_gearys_c_mtx_csr``).

    The denominator from the stored values in stored order (scanpy's expansion of
    ``2 * W * ((x - x_bar) ** 2).sum()``).
    """
    zs = thread_scratch(n_cols * BLOCK, np.float64)
    accs = thread_scratch(3 * BLOCK, np.float64)
    for blk in numba.prange((hi - lo + BLOCK - 1) // BLOCK):
        k0, nb = _span(lo, hi, blk)
        tid = numba.get_thread_id()
        _csr_block(data, indices, indptr, k0, nb, zs[tid])
        _geary_total(zs[tid], n_cols, g_data, g_indices, g_indptr, accs[tid])
        _geary_sparse_denominators(data, indptr, n_cols, w, k0, nb, accs[tid], out)


@kernel(signatures=_DENSE_SIGS, example=_dense_example)
def gearys_c_dense(x, g_data, g_indices, g_indptr, w, lo, hi, out):
    """Geary's C of rows ``lo <= k < hi`` of dense ``vals`` (``_gearys_c_mtx``)."""
    n = x.shape[1]
    zs = thread_scratch(n * BLOCK, np.float64)
    accs = thread_scratch(3 * BLOCK, np.float64)
    for blk in numba.prange((hi - lo + BLOCK - 1) // BLOCK):
        k0, nb = _span(lo, hi, blk)
        tid = numba.get_thread_id()
        _dense_block(x, k0, nb, zs[tid])
        _geary_total(zs[tid], n, g_data, g_indices, g_indptr, accs[tid])
        _geary_dense_denominators(zs[tid], n, w, k0, nb, accs[tid], out)
