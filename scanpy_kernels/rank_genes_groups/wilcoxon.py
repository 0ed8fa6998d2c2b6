"""Wilcoxon rank-sum (Mann-Whitney U) statistics without densifying.

For each gene only the nonzeros are sorted: the gene's zeros form one tie block
whose ranks follow in closed form (after the negative values, before the positive
ones).  One stable radix sort per gene (:mod:`.._sort`), per-thread scratch, parallel
over genes.  Ranks are tracked doubled (``2·rank = 2·below + size + 1`` for a tie block
of ``size`` values above ``below`` smaller ones), so rank sums are exact (integers vs
rest, float64 vs a reference) for fewer than ~9e7 cells, as are scanpy's sums of
half-integer ranks, and the tie terms ``t³ - t`` are exact for tie blocks below ~2e5
cells (vs rest they are also summed in scanpy's order): the results equal scanpy
1.12.4's bit for bit.

Two modes, selected by ``ref``:

* ``ref < 0`` (reference="rest"): every cell is ranked (remainder slot included);
  for each selected group ``g`` the rank sum of its cells; the tie term
  ``Σ (t³ - t)`` over the gene's tie blocks is the same for every group.  Most
  values are tie blocks of one (rank = position): one branch-light pass adds them,
  the zero block is added per slot from its count at the end.
* ``ref >= 0`` (a reference group): for each group ``g != ref`` only the cells of
  ``g`` and ``ref`` are ranked (scanpy ranks each pair separately).  One sort serves
  all pairs: for a tie block holding ``c_g`` cells of ``g`` and ``c_r`` of ``ref``,
  the pair's ranks are ``below_g + below_r + (c_g + c_r + 1) / 2`` and its tie term
  ``f(c_g + c_r) = [f(c_g + c_r) - f(c_r)] + f(c_r)``, ``f(t) = t³ - t``; the first
  part is summed over blocks containing ``g`` (O(nnz) in all), the second once.

NaN (scanpy's ``rankdata``: numpy order puts NaN last, and ``NaN != NaN`` makes each
NaN its own tie block): every NaN is a tie block of one above ``+inf``, NaNs ordered
by row here; scanpy's unstable argsort ordered them otherwise, and
:func:`..drivers.ranksums` moves their ranks to its order (:mod:`.nan_ranks`).

:func:`..drivers.wilcoxon_zscores` turns rank sums and tie terms into scanpy's
z-scores (numpy, scanpy's expressions).
"""

from __future__ import annotations

import numba
import numpy as np
from numba.extending import register_jitable

from .._columns import lower_bound
from .._sort import (
    entry_key,
    entry_scratch,
    entry_slot,
    key_params,
    put,
    radix_sort,
    thread_rows,
)
from ..toolkit import (
    combine_partials,
    kernel,
    matrix_signatures,
    num_threads,
    prefetch,
    routine,
    thread_partials,
    zeros2,
)
from ._common import examples, slot_of, slot_sizes

__all__ = ["ranksums_csc", "ranksums_csr", "ranksums_dense"]

#: (rank_sums, tie_sums) of (data, indices, indptr, n_rows, n_cols | x), codes,
#: n_groups, ref
_SPARSE, _DENSE = matrix_signatures("UniTuple(float64[:, ::1], 2)", "int64")
#: vs rest and vs a reference
_REFS = ((-1,), (1,))
#: CSR sweep: tasks per thread; every task visits every row once per gather block, so
#: blocks are large: ~1/_TASKS of a thread's nonzeros, at most _GATHER_MAX (8 bytes
#: each for float32 data, 12 for float64: 48 MiB per thread), at least the largest column
_TASKS = 4
_GATHER_MAX = 1 << 22
#: rows between a prefetch and the gather that reads its run
_AHEAD = 4
#: dense: gathered values per thread and task (bounds the column block width)
_DENSE_GATHER = 1 << 19
_DENSE_MAX_COLS = 16


@routine  # called twice per gene: numba's SSA pass rejects a loop inlined twice
def _walk_run(sk, sp, lo, hi, off, proto, acc, tie):
    """Add the doubled ranks of sorted entries ``[lo, hi)`` to ``acc`` (per slot).

    ``proto``: an (empty) array of the data's dtype (selects the entry layout at
    compile time).  ``off``: values ranked below entry ``lo`` outside the run.
    ``acc[2 s]`` gathers slot ``s``'s doubled ranks, ``acc[2 s + 1]`` its count
    (integers: exact, any order); returns ``tie`` plus ``t³ - t`` of the run's tie
    blocks, in sort order.
    """
    _, nan_key, nbytes = key_params(proto)
    i = lo
    while i < hi:
        k = entry_key(sk, i, nbytes)
        e = i + 1
        # each NaN is a block of its own
        if e < hi and entry_key(sk, e, nbytes) == k and k != nan_key:
            while e < hi and entry_key(sk, e, nbytes) == k:
                e += 1
            r2 = 2 * (i + off) + (e - i) + 1
            for p in range(i, e):
                s = 2 * entry_slot(sk, sp, p, nbytes)
                acc[s] += r2  # race-free: per-thread scratch row
                acc[s + 1] += 1  # race-free: per-thread scratch row
            t = np.float64(e - i)
            tie += t * t * t - t
        else:  # a value of its own (most of them): t³ - t = 0
            s = 2 * entry_slot(sk, sp, i, nbytes)
            acc[s] += 2 * (i + off) + 2  # race-free: per-thread scratch row
            acc[s + 1] += 1  # race-free: per-thread scratch row
        i = e
    return tie


@routine
def _walk_vs_rest(sk, sp, n, proto, sizes, n_slots, acc, rank2):
    """Doubled rank sums per slot (into ``rank2``) over all cells; returns ``Σ t³ - t``.

    The zero block (after the negative values, before the positive ones) is added per
    slot at the end from the slot's count of nonzeros; its tie term in sort order.
    """
    for s in range(2 * n_slots):
        acc[s] = 0  # race-free: per-thread scratch row
    n_all = 0
    for s in range(n_slots):
        n_all += sizes[s]
    zero_key, _, nbytes = key_params(proto)
    n_neg = 0
    while n_neg < n and entry_key(sk, n_neg, nbytes) < zero_key:
        n_neg += 1
    n_zero = n_all - n
    tie = _walk_run(sk, sp, 0, n_neg, 0, proto, acc, 0.0)
    t = np.float64(n_zero)
    tie += t * t * t - t
    tie = _walk_run(sk, sp, n_neg, n, n_zero, proto, acc, tie)
    zero_r2 = 2 * n_neg + n_zero + 1
    for s in range(n_slots):
        r2 = acc[2 * s] + (sizes[s] - acc[2 * s + 1]) * zero_r2
        rank2[s] = np.float64(r2)  # race-free: per-thread scratch row
    return tie


@routine
def _walk_vs_ref(sk, sp, n, proto, zeros, n_groups, ref, cnt, rank2, below, tie):
    """Doubled rank sums and pair tie terms of every pair ``(g, ref)``.

    Fills ``rank2[g]`` and ``tie[g]`` (without the reference-only part, which is
    returned) for ``g < n_groups``; ``cnt`` must be zero on entry and is on exit.
    """
    for g in range(n_groups):
        rank2[g] = 0.0  # race-free: per-thread scratch row
        below[g] = 0.0  # race-free: per-thread scratch row
        tie[g] = 0.0  # race-free: per-thread scratch row
    zero_key, nan_key, nbytes = key_params(proto)
    tie_ref = 0.0
    i = 0
    zero_pending = True
    while i < n or zero_pending:
        if zero_pending and (i == n or entry_key(sk, i, nbytes) > zero_key):
            cr = np.float64(zeros[ref])
            f_r = cr * cr * cr - cr
            below_r = below[ref]
            for g in range(n_groups):
                c = np.float64(zeros[g])
                if g != ref and c > 0.0:
                    r2 = c * (2.0 * (below[g] + below_r) + c + cr + 1.0)
                    rank2[g] += r2  # race-free: per-thread scratch row
                    t = c + cr
                    tie[g] += (t * t * t - t) - f_r  # race-free: per-thread scratch row
                    below[g] += c  # race-free: per-thread scratch row
            tie_ref += f_r
            below[ref] += cr  # race-free: per-thread scratch row
            zero_pending = False
        else:
            k = entry_key(sk, i, nbytes)
            e = i + 1
            if k != nan_key:
                while e < n and entry_key(sk, e, nbytes) == k:
                    e += 1
            for p in range(i, e):
                g = entry_slot(sk, sp, p, nbytes)
                cnt[g] += 1  # race-free: per-thread scratch row
            cr = np.float64(cnt[ref])
            f_r = cr * cr * cr - cr
            below_r = below[ref]
            for p in range(i, e):
                g = entry_slot(sk, sp, p, nbytes)
                if g != ref and cnt[g] > 0:
                    c = np.float64(cnt[g])
                    r2 = c * (2.0 * (below[g] + below_r) + c + cr + 1.0)
                    rank2[g] += r2  # race-free: per-thread scratch row
                    t = c + cr
                    tie[g] += (t * t * t - t) - f_r  # race-free: per-thread scratch row
                    below[g] += c  # race-free: per-thread scratch row
                    cnt[g] = 0  # race-free: per-thread scratch row
            tie_ref += f_r
            below[ref] += cr  # race-free: per-thread scratch row
            cnt[ref] = 0  # race-free: per-thread scratch row
            i = e
    return tie_ref


@register_jitable  # not inlined: compiled once per process for every kernel and dtype
def _rank_gene(
    keys,
    pay,
    n,
    alt_keys,
    alt_pay,
    hist,
    sizes,
    n_groups,
    ref,
    ints,
    flts,
    proto,
):
    """Rank one gene's gathered entries (in row order; :mod:`.._sort`).

    ``proto``: an (empty) array of the data's dtype: compiled once per dtype, with
    the entry layout fixed.  Works in the calling thread's scratch rows only.  Leaves the doubled rank sums in
    ``flts[:n_groups]`` and, in reference mode, the pair tie terms in
    ``flts[2 (n_groups + 1):]``; returns the tie term shared by all groups (vs rest:
    the gene's ``Σ t³ - t``; vs reference: the reference-only part).
    """
    n_slots = n_groups + 1
    nbytes = key_params(proto)[2]
    in_alt = radix_sort(keys, pay, alt_keys, alt_pay, n, nbytes, hist)
    sk = alt_keys if in_alt else keys
    sp = alt_pay if in_alt else pay
    rank2 = flts[:n_slots]
    if ref < 0:
        return _walk_vs_rest(sk, sp, n, proto, sizes, n_slots, ints, rank2)
    zeros = ints[:n_slots]
    cnt = ints[n_slots : 2 * n_slots]
    for s in range(n_slots):
        zeros[s] = sizes[s]
        cnt[s] = 0
    for p in range(n):
        zeros[entry_slot(sk, sp, p, nbytes)] -= 1
    below = flts[n_slots : 2 * n_slots]
    tie = flts[2 * n_slots : 3 * n_slots]
    return _walk_vs_ref(sk, sp, n, proto, zeros, n_groups, ref, cnt, rank2, below, tie)


@routine
def _buffers(n_threads, n, n_alt, n_groups, n_cols, nbytes):
    """Per-thread scratch and the zeroed outputs of a ranksums kernel.

    Returns ``(scr, rank_sums, tie_sums)``: ``scr = (keys, pay, alt_keys, alt_pay,
    hist, ints, flts)``, rows of ``n_threads`` (the kernel's ``num_threads()``): the
    gathered entries (``n`` per thread) and the sort's other side (``n_alt``), as
    :func:`.._sort.entry_scratch`, then :func:`_rank_gene`'s work rows; the outputs
    ``(n_groups, n_cols)`` float64.
    """
    n_slots = n_groups + 1
    keys, pay, alt_keys, alt_pay, hist = entry_scratch(n_threads, n, n_alt, nbytes)
    ints = thread_rows(n_threads, 2 * n_slots, np.int64)
    flts = thread_rows(n_threads, 3 * n_slots, np.float64)
    scr = (keys, pay, alt_keys, alt_pay, hist, ints, flts)
    return (
        scr,
        zeros2(n_groups, n_cols, np.float64),
        zeros2(n_groups, n_cols, np.float64),
    )


@routine
def _rank_column(scr, tid, o, n, sizes, n_groups, ref, proto, rank_sums, tie_sums, j):
    """Rank gene ``j``'s ``n`` entries gathered at ``o`` in thread ``tid``'s rows; store.

    ``scr``: :func:`_buffers`' scratch.  Writes ``rank_sums[:, j]`` (halved doubled
    sums) and ``tie_sums[:, j]`` (row ``ref`` untouched in reference mode).
    """
    keys, pay, alt_keys, alt_pay, hist, ints, flts = scr
    fl = flts[tid]
    tie0 = _rank_gene(
        keys[tid, o:],
        pay[tid, o:],
        n,
        alt_keys[tid],
        alt_pay[tid],
        hist[tid],
        sizes,
        n_groups,
        ref,
        ints[tid],
        fl,
        proto,
    )
    pair_ties = 2 * (n_groups + 1)
    for g in range(n_groups):
        if ref < 0:
            rank_sums[g, j] = 0.5 * fl[g]  # race-free: gene j is this iteration's
            tie_sums[g, j] = tie0  # race-free: gene j is this iteration's
        elif g != ref:
            rank_sums[g, j] = 0.5 * fl[g]  # race-free: gene j is this iteration's
            pair = fl[pair_ties + g] + tie0
            tie_sums[g, j] = pair  # race-free: gene j is this iteration's


@kernel(signatures=_SPARSE, example=examples("csc", *_REFS))
def ranksums_csc(data, indices, indptr, n_rows, n_cols, codes, n_groups, ref):
    """Rank sums and tie terms of a CSC matrix, parallel over genes.

    Parameters: CSC components and shape, per-cell ``codes`` (``-1``: no selected
    group), ``n_groups``, ``ref`` (``-1``: vs rest; else the reference group's code).
    Returns ``(rank_sums, tie_sums)``, each ``(n_groups, n_genes)`` float64:
    the sum of the (average) ranks of group ``g``'s cells, and ``Σ (t³ - t)`` over
    the tie blocks of the ranked cells (row ``ref`` stays 0 in reference mode).
    """
    sizes = slot_sizes(codes, n_groups)
    nbytes = key_params(data)[2]
    max_nnz = 0
    for j in range(n_cols):
        max_nnz = max(max_nnz, np.intp(indptr[j + 1] - indptr[j]))
    scr, rank_sums, tie_sums = _buffers(
        num_threads(), max_nnz, max_nnz, n_groups, n_cols, nbytes
    )
    keys, pay = scr[0], scr[1]
    for j in numba.prange(n_cols):
        tid = numba.get_thread_id()
        kb = keys[tid]
        pb = pay[tid]
        n = 0
        for p in range(indptr[j], indptr[j + 1]):
            v = data[p]
            code = codes[indices[p]]
            if v != 0 and (ref < 0 or code >= 0):
                put(kb, pb, n, v, slot_of(code, n_groups), nbytes)
                n += 1
        proto = data[:0]
        _rank_column(
            scr, tid, 0, n, sizes, n_groups, ref, proto, rank_sums, tie_sums, j
        )
    return rank_sums, tie_sums


@routine
def _plan_csr(col_nnz, n_tasks, budget):
    """Split the columns into ``n_tasks`` ranges of ~equal nnz, and those into blocks.

    The ranges are contiguous; a cache block has at most ``budget`` nnz (or is a
    single column).

    Returns ``(block_bounds, task_first)``: block ``b`` is the columns
    ``[block_bounds[b], block_bounds[b + 1])``; task ``t`` owns the blocks
    ``task_first[t] .. task_first[t + 1] - 1`` (possibly none).
    """
    n_cols = col_nnz.shape[0]
    total = 0
    for c in range(n_cols):
        total += col_nnz[c]
    # task t starts at the first column whose preceding nnz reach t/n_tasks of the total
    task_lo = np.empty(n_tasks + 1, np.int64)
    for t in range(n_tasks + 1):
        task_lo[t] = n_cols
    task_lo[0] = 0
    t = 1
    done = 0
    for c in range(n_cols):
        while t < n_tasks and done * n_tasks >= t * total:
            task_lo[t] = c
            t += 1
        done += col_nnz[c]
    block_bounds = np.empty(n_cols + 1, np.int64)
    task_first = np.empty(n_tasks + 1, np.int64)
    n_blocks = 0
    for t in range(n_tasks):
        task_first[t] = n_blocks
        in_block = budget + 1  # forces a new block at the task's first column
        for c in range(task_lo[t], task_lo[t + 1]):
            if in_block + col_nnz[c] > budget:
                block_bounds[n_blocks] = c
                n_blocks += 1
                in_block = 0
            in_block += col_nnz[c]
    task_first[n_tasks] = n_blocks
    block_bounds[n_blocks] = n_cols
    return block_bounds, task_first


# PLR0912, PLR0915: one parallel region (plan, gather, rank) with its per-thread
# scratch; moving its loops into helpers would only hide the length
@kernel(signatures=_SPARSE, example=examples("csr", *_REFS))
def ranksums_csr(data, indices, indptr, n_rows, n_cols, codes, n_groups, ref):  # noqa: PLR0912, PLR0915
    """:func:`ranksums_csc` for a canonical CSR matrix, without transposing it.

    Parallel over disjoint column ranges of ~equal nnz.  Each range is swept in cache
    blocks: a block's nonzeros are gathered per column into per-thread buffers (one
    cursor per row remembers where the row's next block starts; the run of the row
    ``_AHEAD`` rows on is prefetched: a block's run per row is too short for the
    hardware prefetcher, 1.5x faster reads on M), then ranked.
    Extra memory per thread: ``8·(n_rows + n_cols) + e·(block + max column nnz)``
    bytes (``e`` = 8 for float32 data, 12 for float64),
    ``block = max(max column nnz, min(2**22, nnz / (4·threads)))``: 48 MiB at most for
    typical data (a CSC copy would be ``8·nnz``).
    """
    sizes = slot_sizes(codes, n_groups)
    nbytes = key_params(data)[2]
    # stored entries per column (an upper bound of what is gathered)
    partials = thread_partials(n_cols, np.int64)
    for r in numba.prange(n_rows):
        acc = partials[numba.get_thread_id()]
        for p in range(indptr[r], indptr[r + 1]):
            acc[indices[p]] += 1
    col_nnz = combine_partials(partials, n_cols)
    max_col = 0
    for c in range(n_cols):
        max_col = max(max_col, col_nnz[c])
    n_tasks = max(1, min(n_cols, _TASKS * num_threads()))
    total = 0
    for c in range(n_cols):
        total += col_nnz[c]
    budget = max(max_col, min(_GATHER_MAX, (total + n_tasks - 1) // n_tasks))
    block_bounds, task_first = _plan_csr(col_nnz, n_tasks, budget)
    n_threads = num_threads()
    cursors = thread_rows(n_threads, n_rows, np.int64)
    fills = thread_rows(n_threads, n_cols + 1, np.int64)
    scr, rank_sums, tie_sums = _buffers(
        n_threads, budget, max_col, n_groups, n_cols, nbytes
    )
    keys, pay = scr[0], scr[1]
    for t in numba.prange(n_tasks):
        tid = numba.get_thread_id()
        cur = cursors[tid]
        fill = fills[tid]
        kb = keys[tid]
        pb = pay[tid]
        if task_first[t] < task_first[t + 1]:
            lo = block_bounds[task_first[t]]
            for r in range(n_rows):
                cur[r] = lower_bound(indices, indptr[r], indptr[r + 1], lo)
        for b in range(task_first[t], task_first[t + 1]):
            c0 = block_bounds[b]
            c1 = block_bounds[b + 1]
            # each column's segment of the gather buffer starts at fill[c - c0]
            o = 0
            for c in range(c0, c1):
                fill[c - c0] = o
                o += col_nnz[c]
            for r in range(n_rows):
                # a row's entries in the block are a short run the hardware cannot
                # predict: start loading the run _AHEAD rows on
                ahead = cur[min(r + _AHEAD, n_rows - 1)]
                prefetch(indices, ahead)
                prefetch(data, ahead)
                code = codes[r]
                take = ref < 0 or code >= 0
                s = slot_of(code, n_groups)
                p = cur[r]
                end = indptr[r + 1]
                while p < end and indices[p] < c1:
                    v = data[p]
                    if take and v != 0:
                        q = fill[indices[p] - c0]
                        put(kb, pb, q, v, s, nbytes)
                        fill[indices[p] - c0] = q + 1
                    p += 1
                cur[r] = p
            o = 0
            proto = data[:0]
            for c in range(c0, c1):
                n = fill[c - c0] - o
                _rank_column(
                    scr, tid, o, n, sizes, n_groups, ref, proto, rank_sums, tie_sums, c
                )
                o += col_nnz[c]
    return rank_sums, tie_sums


@kernel(signatures=_DENSE, example=examples("dense", *_REFS))
def ranksums_dense(x, codes, n_groups, ref):
    """:func:`ranksums_csc` for a C-contiguous dense matrix (zeros are not sorted).

    Parallel over blocks of up to 16 columns; a block's nonzeros are gathered per
    column (row order) into per-thread buffers, then ranked.
    """
    n_rows, n_cols = x.shape
    sizes = slot_sizes(codes, n_groups)
    nbytes = key_params(x)[2]
    width = max(1, min(_DENSE_MAX_COLS, _DENSE_GATHER // max(1, n_rows)))
    n_blocks = (n_cols + width - 1) // width
    n_threads = num_threads()
    scr, rank_sums, tie_sums = _buffers(
        n_threads, width * n_rows, n_rows, n_groups, n_cols, nbytes
    )
    keys, pay = scr[0], scr[1]
    fills = thread_rows(n_threads, width, np.int64)
    for b in numba.prange(n_blocks):
        tid = numba.get_thread_id()
        kb = keys[tid]
        pb = pay[tid]
        fill = fills[tid]
        c0 = b * width
        c1 = min(c0 + width, n_cols)
        for c in range(c1 - c0):
            fill[c] = c * n_rows
        for r in range(n_rows):
            code = codes[r]
            if ref < 0 or code >= 0:
                s = slot_of(code, n_groups)
                for c in range(c1 - c0):
                    v = x[r, c0 + c]
                    if v != 0:
                        q = fill[c]
                        put(kb, pb, q, v, s, nbytes)
                        fill[c] = q + 1
        proto = x[0, :0]
        for c in range(c1 - c0):
            o = c * n_rows
            _rank_column(
                scr,
                tid,
                o,
                fill[c] - o,
                sizes,
                n_groups,
                ref,
                proto,
                rank_sums,
                tie_sums,
                c0 + c,
            )
    return rank_sums, tie_sums
