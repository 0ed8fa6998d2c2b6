"""numpy's pairwise summation, value for value: what ``np.add.reduce``/``reduceat`` return.

numpy sums a contiguous run with ``@TYPE@_pairwise_sum`` (``numpy/_core/src/umath/
loops_utils.h.src``), in the run's own dtype (float32 stays float32):

- fewer than 8 values: ``res = -0.0; res += a[i]`` in order;
- at most ``PW_BLOCKSIZE = 128``: eight lanes ``r[k]`` start at ``a[0..7]`` and add
  every eighth value, ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the
  ``n % 8`` tail in order;
- more: ``sum(a[:n2]) + sum(a[n2:])`` with ``n2 = n // 2 - (n // 2) % 8``.

``np.add.reduceat(a, starts)`` (scipy's CSR row sums, ``_minor_reduce``) starts each
segment from its first value and adds the pairwise sum of the rest:
:func:`reduceat_sum`.  ``np.sum(a, axis=1)`` of a C-contiguous array starts from the
identity, ``0 + pairwise(row)`` (an all ``-0.0`` row sums to ``+0.0``): :func:`array_sum`.
Along a strided axis (``x[:, mask]`` is an F-ordered copy) numpy adds the columns one
by one: :func:`sequential_sum`.  numba compiles no untyped recursion, so the recursion is walked
on an explicit stack the caller owns (a row of per-thread scratch, :data:`STACK`
float64 slots: ``(lo, n, right_started)`` per level and the finished left half; 40
levels cover any array, each level halves the run).
"""

from __future__ import annotations

import numpy as np

from .toolkit import helper, routine

__all__ = ["STACK", "array_sum", "reduceat_sum", "sequential_sum"]

#: numpy's ``PW_BLOCKSIZE``: runs of at most this many values are summed in 8 lanes
PW_BLOCKSIZE = 128
#: levels of the explicit stack (a run of 2**63 values needs fewer than 64 - 7)
_LEVELS = 64
#: float64 slots of one stack: 3 per level for the frame, 1 for the left half's sum
STACK = 4 * _LEVELS


@routine
def _block(v, lo, n):
    """Return numpy's pairwise sum of ``v[lo:lo + n]``, ``n <= 128``, in ``v``'s dtype."""
    if n < 8:
        res = -v.dtype.type(0.0)  # numpy starts at -0.0 (keeps an all -0.0 sum's sign)
        for i in range(lo, lo + n):
            res += v[i]
        return res
    r0, r1, r2, r3 = v[lo], v[lo + 1], v[lo + 2], v[lo + 3]
    r4, r5, r6, r7 = v[lo + 4], v[lo + 5], v[lo + 6], v[lo + 7]
    i = lo + 8
    end8 = lo + n - n % 8
    while i < end8:
        r0 += v[i]
        r1 += v[i + 1]
        r2 += v[i + 2]
        r3 += v[i + 3]
        r4 += v[i + 4]
        r5 += v[i + 5]
        r6 += v[i + 6]
        r7 += v[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < lo + n:
        res += v[i]
        i += 1
    return res


@helper
def _half(n):
    """Where numpy splits ``n > 128`` values: about half, a multiple of 8."""
    n2 = n // 2
    return n2 - n2 % 8


@routine
def _pairwise(v, lo, n, stack):
    """Return numpy's pairwise sum of ``v[lo:lo + n]`` (the recursion on ``stack``).

    Level ``d``: ``stack[3d]`` its start, ``stack[3d + 1]`` its length,
    ``stack[3d + 2]`` 1 once its right half runs; ``stack[3 * 64 + d]`` its left half's
    sum (exact in float64 for float32 and float64 runs).
    """
    if n <= PW_BLOCKSIZE:
        return _block(v, lo, n)
    part = 3 * _LEVELS
    depth = 0
    stack[0] = lo
    stack[1] = n
    stack[2] = 0
    while True:
        f_lo = np.int64(stack[3 * depth])
        f_n = np.int64(stack[3 * depth + 1])
        if f_n > PW_BLOCKSIZE:  # descend into the left half
            depth += 1
            stack[3 * depth] = f_lo
            stack[3 * depth + 1] = _half(f_n)
            stack[3 * depth + 2] = 0
            continue
        total = _block(v, f_lo, f_n)
        depth -= 1
        # hand the finished sum up: a left half starts its right half, a right half
        # completes its parent
        while depth >= 0 and stack[3 * depth + 2] == 1:
            total = v.dtype.type(stack[part + depth]) + total
            depth -= 1
        if depth < 0:
            return total
        stack[part + depth] = total
        stack[3 * depth + 2] = 1
        n2 = _half(np.int64(stack[3 * depth + 1]))
        depth += 1
        stack[3 * depth] = stack[3 * depth - 3] + n2
        stack[3 * depth + 1] = stack[3 * depth - 2] - n2
        stack[3 * depth + 2] = 0


@routine
def reduceat_sum(v, n, stack):
    """``np.add.reduceat`` of the run ``v[:n]``: ``v[0] + pairwise(v[1:n])``; 0 if empty.

    ``stack``: :data:`STACK` float64 slots of scratch.
    """
    if n == 0:
        return v.dtype.type(0.0)
    if n == 1:
        return v[0]
    return v[0] + _pairwise(v, 1, n - 1, stack)


@routine
def array_sum(v, n, stack):
    """``np.sum`` of the contiguous run ``v[:n]``: ``0 + pairwise(v[:n])``.

    ``stack``: :data:`STACK` float64 slots of scratch.
    """
    return v.dtype.type(0.0) + _pairwise(v, 0, n, stack)


@routine
def sequential_sum(v, n, stack):
    """``0 + v[0] + v[1] + ...`` in ``v``'s dtype: ``np.sum`` along a strided axis.

    ``stack`` is not used (the signature of :func:`reduceat_sum` and :func:`array_sum`).
    """
    res = v.dtype.type(0.0)
    for p in range(n):
        res += v[p]
    return res
