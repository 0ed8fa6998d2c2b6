"""Helpers shared by the HVG kernels: signatures, column-block counts, batch codes.

The CSR kernels here are parallel over *contiguous column blocks*
(:mod:`.._columns`): each output column is summed in row order, as scanpy's serial
loops do, and no two iterations write one element.  ``mean_var_csr`` reproduces
fast-array-utils' row partition instead (one task per partial-sum slot, split into
column blocks only when there are fewer slots than threads).
"""

from __future__ import annotations

import numpy as np

from ..toolkit import helper, num_threads, routine

__all__ = [
    "DATA",
    "INDEX",
    "batch_positions",
    "n_blocks_for",
    "signatures",
]

DATA = ("float32", "float64")
INDEX = ("int32", "int64")

#: bytes of per-block scratch above which a parallel kernel uses more, smaller blocks
SCRATCH_BYTES = 1 << 20


def signatures(template: str, *, index: bool = True) -> list[str]:
    """``template`` with ``{d}`` (data) and ``{i}`` (index) filled for every combination."""
    return [
        template.format(d=d, i=i) for d in DATA for i in (INDEX if index else ("",))
    ]


@helper
def n_blocks_for(n_cols, scratch_bytes_per_col):
    """Count column blocks: one per thread (1 serially), more for big scratch.

    More blocks than threads only if a block's scratch would exceed ``SCRATCH_BYTES``.

    One contiguous block per thread is fastest: every block reads a slice of every
    row, and thinner slices stream worse (measured: 8 blocks on one thread ~1.4x
    slower than 1).  numba splits a prange statically, so more blocks would not
    balance load either; the blocks are balanced by (sampled) nnz instead.
    """
    k = num_threads()
    if k > 1:
        need = (n_cols * scratch_bytes_per_col + SCRATCH_BYTES - 1) // SCRATCH_BYTES
        k = max(k, need)
    return max(1, min(k, n_cols))


@routine
def batch_positions(codes, n_batches):
    """Per row its position inside its batch, and the rows per batch (code < 0: none)."""
    pos = np.empty(codes.shape[0], np.int64)
    counts = np.zeros(n_batches, np.int64)
    for i in range(codes.shape[0]):
        b = codes[i]
        if b >= 0:
            pos[i] = counts[b]
            counts[b] += 1
        else:
            pos[i] = -1
    return pos, counts
