"""The verifier's inputs of the aggregate kernels (one calling convention)."""

from __future__ import annotations

import numpy as np

from ..toolkit import matrix_examples

__all__ = ["EXAMPLE_GROUPS", "examples"]

EXAMPLE_GROUPS = 4


def _cases(rng):
    """Ties, negatives, NaN, an all-zero column, a group without rows, rows in none.

    Group 3 has no rows (an aggregate ``mask`` can empty a group); code ``-1`` rows
    are in no group.  float32/int32 and float64/int64.
    """
    n_cells, n_genes = 150, 37
    for dtype, index in ((np.float32, np.int32), (np.float64, np.int64)):
        x = np.round(rng.normal(1.0, 1.0, (n_cells, n_genes)), 1)
        x[rng.random(x.shape) < 0.6] = 0.0
        x[:, 3] = 0.0
        x[5, 7] = np.nan
        codes = rng.integers(-1, EXAMPLE_GROUPS - 1, n_cells).astype(np.int64)
        yield x, dtype, index, codes, EXAMPLE_GROUPS


def examples(fmt: str):
    """Make a kernel's ``example``: ``(*matrix_args, codes, n_groups)`` in ``fmt``."""
    return matrix_examples(_cases, fmt)
