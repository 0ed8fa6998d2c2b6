"""Order-preserving integer keys for floats and a stable LSD radix sort of *entries*.

The one sort of the kernel layer: ``rank_genes_groups``' Wilcoxon kernels sort each
gene's gathered nonzeros as entries (:func:`radix_sort`).

``order_key(v)`` maps a float32/float64 to an unsigned integer of its width whose
unsigned order is the numeric order of the floats (flip all bits of negative numbers,
set the sign bit of positive ones).  ``+0.0`` and ``-0.0`` map to different keys, but
zeros never reach a key (kernels treat them as one implicit block).  NaN maps to the
all-ones key, above ``+inf``: NaNs sort last, as in numpy.

An *entry* is one gathered nonzero: its key and its slot (group).  Entries live in a
``uint64`` array ``keys`` and an ``int32`` array ``pay``:

* float32 data (``nbytes == 4``): *packed*, ``key << 32 | slot`` in ``keys`` alone
  (``pay`` is unused and may be empty): one 8-byte load/store per entry in the gathers
  and sort passes instead of two 4-byte ones (sort 25% faster on M);
* float64 data (``nbytes == 8``): the key in ``keys``, the slot in ``pay``.

``nbytes`` comes from ``key_params``, a constant of the data dtype, so each branch on
it folds away once LLVM inlines the small routines.  ``put`` writes an entry,
``entry_key``/``entry_slot`` read one.

Compile time: the small accessors are :func:`~.toolkit.routine` s (compiled once per
process and signature, inlined by LLVM), not numba-inlined helpers: typed inlining
re-runs numba's type inference and untyped passes at every call site, which made a
Wilcoxon kernel's first compile 2-3 times slower.  Only ``put`` (the gather loops: a
routine there cost the CSC kernel ~20%) and ``radix_sort`` / ``_insertion_sort`` (a
routine cost ~10%: its passes' loops are optimised before ``nbytes`` is known) are
inlined helpers.

``radix_sort`` sorts entries by key, 8 bits per pass, stable (equal keys keep their
input order), skipping passes whose byte is the same for all keys.  Insertion sort
below ``_SMALL`` items.  No allocation: the caller passes the alternate buffers and a
``8 x 256`` histogram, which ``entry_scratch`` allocates per thread with the entries
(given the kernel's ``num_threads()``: a routine's own would be 1).

``np.argsort`` is not used in kernels: numba's quicksort keeps its stack in a list
whose bounds-checked accesses are ``IndexError`` raise sites.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import intrinsic, overload

from .toolkit import helper, routine
from .toolkit._scratch import padded

__all__ = [
    "HIST_SIZE",
    "entry_key",
    "entry_scratch",
    "entry_slot",
    "key_params",
    "nan_last_less",
    "order_key",
    "put",
    "radix_sort",
    "slot_room",
    "thread_rows",
]


@routine
def nan_last_less(a, b):
    """Return numba's float comparison for sorts: NaN after every number.

    numba's ``lt_floats`` (its quicksort) and ``nan_aware_less_than`` (its
    ``np.partition``) are this one truth table; the kernels that reproduce those
    numba orders (``rank_genes_groups.nan_ranks``, ``qc.rows``) compare with it.
    """
    return a < b or (np.isnan(b) and not np.isnan(a))


#: histogram scratch a radix sort needs (8 bytes x 256 buckets)
HIST_SIZE = 8 * 256
_SMALL = 32
_BYTE = np.uint64(0xFF)
_LOW = np.uint64(0xFFFF_FFFF)


@intrinsic
def _float_bits(typingctx, x):
    """Reinterpret a float32/float64 as uint32/uint64 (LLVM ``bitcast``)."""
    if x == types.float32:
        ret = types.uint32
    elif x == types.float64:
        ret = types.uint64
    else:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(sig.return_type))

    return ret(x), codegen


def _consts(dtype):
    if dtype == types.float32:
        return np.uint32(1 << 31), np.uint32(0xFFFF_FFFF), 4
    if dtype == types.float64:
        return np.uint64(1 << 63), np.uint64(0xFFFF_FFFF_FFFF_FFFF), 8
    return None


def order_key(v):
    """Order-preserving unsigned key of a float, as wide as the float (jitted only)."""
    raise NotImplementedError


def key_params(arr):
    """``(zero_key, nan_key, key_bytes)`` for the float dtype of ``arr`` (jitted only).

    Keys (as ``entry_key`` returns them: uint64) of positive numbers are
    ``> zero_key``, of negative numbers ``< zero_key``; ``key_bytes`` is 4 or 8, a
    compile-time constant (it selects the entry layout).
    """
    raise NotImplementedError


@overload(order_key)
def _ol_order_key(v):
    consts = _consts(v)
    if consts is None:
        return None
    sign, full, _ = consts

    def impl(v):
        if np.isnan(v):
            return full
        b = _float_bits(v)
        if b & sign:
            return b ^ full
        return b | sign

    return impl


@overload(key_params)
def _ol_key_params(arr):
    consts = _consts(getattr(arr, "dtype", None))
    if consts is None:
        return None
    zero_key, nan_key, nbytes = np.uint64(consts[0]), np.uint64(consts[1]), consts[2]

    def impl(arr):
        return zero_key, nan_key, nbytes

    return impl


@routine
def _shift(nbytes):
    """Bit position of the key in an entry: 32 when packed (float32), else 0."""
    return np.uint64(64 - 8 * nbytes)


@helper
def put(keys, pay, q, v, slot, nbytes):
    """Store the entry of value ``v`` (nonzero) in ``slot`` at position ``q``."""
    if nbytes == 4:
        keys[q] = (np.uint64(order_key(v)) << _shift(nbytes)) | np.uint64(slot)
    else:
        keys[q] = np.uint64(order_key(v))
        pay[q] = slot


@routine
def entry_key(keys, i, nbytes):
    """Return the key of entry ``i``."""
    return keys[i] >> _shift(nbytes)


@routine
def entry_slot(keys, pay, i, nbytes):
    """Return the slot of entry ``i``."""
    if nbytes == 4:
        return np.intp(keys[i] & _LOW)
    return np.intp(pay[i])


@routine
def slot_room(n, nbytes):
    """Return the length ``pay`` buffers need for ``n`` entries (0 when packed)."""
    return 0 if nbytes == 4 else n


@routine
def thread_rows(n_threads, n, dtype):
    """Uninitialised ``(n_threads, >=n)`` work buffer, one padded row per thread.

    ``thread_scratch`` with the thread count passed in (the kernel's
    ``num_threads()``): a routine, compiled once, not inlined into every kernel.
    """
    itemsize = np.empty(0, dtype).itemsize
    return np.empty((n_threads, padded(n, itemsize)), dtype)


@routine
def entry_scratch(n_threads, n, n_alt, nbytes):
    """Per-thread ``(keys, pay, alt_keys, alt_pay, hist)`` for ``radix_sort``.

    ``keys``/``pay`` hold ``n`` entries, ``alt_keys``/``alt_pay`` (the sort's other
    side) ``n_alt``; each is a :func:`thread_rows` array (a row per thread;
    ``n_threads``: the kernel's ``num_threads()``).
    """
    return (
        thread_rows(n_threads, n, np.uint64),
        thread_rows(n_threads, slot_room(n, nbytes), np.int32),
        thread_rows(n_threads, n_alt, np.uint64),
        thread_rows(n_threads, slot_room(n_alt, nbytes), np.int32),
        thread_rows(n_threads, HIST_SIZE, np.int64),
    )


@helper
def _insertion_sort(keys, pay, n, nbytes):
    for i in range(1, n):
        k = keys[i]
        key = entry_key(keys, i, nbytes)
        q = pay[i] if nbytes == 8 else 0
        p = i - 1
        while p >= 0 and entry_key(keys, p, nbytes) > key:
            keys[p + 1] = keys[p]  # race-free: per-thread scratch row
            if nbytes == 8:
                pay[p + 1] = pay[p]  # race-free: per-thread scratch row
            p -= 1
        keys[p + 1] = k  # race-free: per-thread scratch row
        if nbytes == 8:
            pay[p + 1] = q  # race-free: per-thread scratch row


@helper
def radix_sort(keys, pay, alt_keys, alt_pay, n, nbytes, hist):
    """Stable sort of the entries ``[0, n)`` by key.

    Returns ``True`` when the sorted result lies in ``alt_keys``/``alt_pay``, ``False``
    when it lies in ``keys``/``pay``.  ``hist`` needs ``HIST_SIZE`` int64.
    """
    if n <= _SMALL:
        _insertion_sort(keys, pay, n, nbytes)
        return False
    low = _shift(nbytes)
    for i in range(nbytes * 256):
        hist[i] = 0  # race-free: per-thread scratch row
    for i in range(n):
        k = keys[i]
        for b in range(nbytes):
            digit = np.intp((k >> (low + np.uint64(8 * b))) & _BYTE)
            hist[b * 256 + digit] += 1  # race-free: per-thread scratch row
    src_k, src_p, dst_k, dst_p = keys, pay, alt_keys, alt_pay
    in_alt = False
    for b in range(nbytes):
        base = b * 256
        shift = low + np.uint64(8 * b)
        if hist[base + np.intp((src_k[0] >> shift) & _BYTE)] == n:
            continue  # every key has the same byte here: the pass would be the identity
        total = 0
        for d in range(256):
            c = hist[base + d]
            hist[base + d] = total  # race-free: per-thread scratch row
            total += c
        for i in range(n):
            k = src_k[i]
            slot = base + np.intp((k >> shift) & _BYTE)
            q = hist[slot]
            hist[slot] = q + 1  # race-free: per-thread scratch row
            dst_k[q] = k  # race-free: per-thread scratch row
            if nbytes == 8:
                dst_p[q] = src_p[i]  # race-free: per-thread scratch row
        src_k, src_p, dst_k, dst_p = dst_k, dst_p, src_k, src_p
        in_alt = not in_alt
    return in_alt
