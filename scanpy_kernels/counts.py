"""Whether stored values are counts: scanpy's ``check_nonnegative_integers``.

scanpy 1.12.4 (``_utils.check_nonnegative_integers``, in-memory arrays) answers
``False`` if ``np.signbit(data).any()``, else ``not np.any((data % 1) != 0)``: two
full passes, the second allocating ``data % 1`` and its comparison.  It runs on every
``highly_variable_genes(flavor='seurat_v3'...)``, pearson-residuals HVG and
``rank_genes_groups`` call (there to warn about un-logged data).

:func:`nonnegative_integers` gives the same answer in one pass that stops at the
first chunk holding a bad value.  :func:`are_counts`, what scanpy calls, runs it on
the first :data:`HEAD` values (log-normalised data stop there), then on the rest
split over threads (:func:`~.toolkit.split_range`: a serial kernel compiles in a
quarter of a ``prange``'s time, docs/kernel-guide.md "Compile time").
Per value, ``ok = copysign(1, x) > 0 and x - floor(x) == 0``:

- the sign test is ``signbit``: it rejects negatives, ``-0.0`` and negative NaNs;
- ``x - floor(x)`` is exact for ``x >= 0`` (Sterbenz; ``floor(x) = 0`` below 1), so it
  is 0 exactly when ``x % 1 == 0`` for finite ``x``; it is NaN (not 0) for NaN and
  ``inf``, where numpy's ``x % 1`` is NaN too.  (numpy also warns for ``inf % 1``;
  this kernel does not warn.)
"""

from __future__ import annotations

import math

import numpy as np

from ._input import FLOATS, UnsupportedInputError
from .toolkit import kernel, signatures, split_range, vectorize

__all__ = ["are_counts", "nonnegative_integers"]

#: values per chunk: the kernel returns after the first chunk holding a bad value
CHUNK = 1 << 16
#: values checked on the calling thread before the rest is split over threads
HEAD = 1 << 18

#: the stored values (CSR/CSC ``data`` or a raveled array), writable or read-only
_SIGS = signatures("boolean({d}[::1])") + signatures(
    "boolean(Array({d}, 1, 'C', readonly=True))"
)


def _examples(rng):
    """Make counts (True) and counts spoiled by each value pristine calls non-count."""
    counts = rng.negative_binomial(2, 0.3, 5 * CHUNK + 123).astype(np.float64)
    cases = [counts]
    for bad in (-1.0, -0.0, 0.5, np.nan, np.inf, -np.nan):
        x = counts.copy()
        x[rng.integers(x.size)] = bad
        cases.append(x)
    return [(x.astype(dtype),) for x in cases for dtype in (np.float32, np.float64)]


@kernel(signatures=_SIGS, example=_examples, parallel=False)
def nonnegative_integers(data):
    """Whether no value has its sign bit set and every value is a whole number."""
    n = data.shape[0]
    for lo in range(0, n, CHUNK):
        chunk = data[lo : min(lo + CHUNK, n)]  # indexed from 0: no wraparound test
        bad = 0
        vectorize(data)  # an integer count: any order is exact
        for p in range(chunk.shape[0]):
            x = chunk[p]
            # signbit(x) or x % 1 != 0 (NaN and inf included, see the module doc)
            bad += (math.copysign(1.0, x) < 0.0) | (x - np.floor(x) != 0.0)
        if bad:
            return False
    return True


def are_counts(data: np.ndarray) -> bool:
    """Whether every value of ``data`` is a non-negative whole number (scanpy's check).

    ``data``: an array of native float32/float64 values in C or Fortran order, any
    shape (read in memory order, without a copy); for other dtypes and layouts
    :class:`~._input.UnsupportedInputError` (scanpy's numpy check answers those).

    >>> are_counts(np.array([[0.0, 3.0], [1.0, 2.0]], dtype=np.float32))
    True
    >>> are_counts(np.array([1.0, 0.5]))
    False
    """
    if not (
        data.dtype in FLOATS
        and data.dtype.isnative
        and (data.flags.c_contiguous or data.flags.f_contiguous)
    ):
        msg = f"the count check takes contiguous native float32/64, not {data.dtype}"
        raise UnsupportedInputError(msg)
    flat = np.asarray(data).ravel(order="K")
    if not nonnegative_integers(flat[:HEAD]):
        return False
    rest = flat[HEAD:]
    return all(
        split_range(
            lambda lo, hi: nonnegative_integers(rest[lo:hi]), rest.size, min_size=HEAD
        )
    )
