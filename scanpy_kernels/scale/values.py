"""Scaling the stored values in place: ``scale(zero_center=False)`` of a CSR matrix.

scanpy 1.12.4 runs ``scale_and_clip_csr`` (a numba kernel) on every row:
``data[j] = min(max_value, data[j] / std[indices[j]])``, or ``data[j] /= std[...]``
without ``max_value``: a float64 quotient stored in the data dtype.  numba's ``min``
is Python's: ``q if q < max_value else max_value``, so a NaN quotient becomes
``max_value``.  :func:`scale_values_csr` is that loop (``clip`` False: no
``max_value``), writing into ``data`` in place as scanpy does.

The kernel takes ``(*m.args, std, max_value, clip)`` of ``as_matrix(x, stored=True)``
with indices in range (the driver checks them) and returns nothing.
"""

from __future__ import annotations

import numba
import numpy as np

from ..toolkit import kernel, signatures
from .center import _examples as _center_examples

__all__ = ["scale_values_csr"]

#: data, indices, indptr, n_rows, n_cols, std, max_value, clip
_SIGS = signatures(
    "none({d}[::1], {i}[::1], {i}[::1], int64, int64, float64[::1], float64, boolean)"
)


def _examples(rng):
    out = []
    for args in _center_examples(rng)[::2]:
        data, indices, indptr, n_rows, n_cols, _, std = args[:7]
        for max_value, clip in ((0.0, False), (0.8, True)):
            out.append((
                data.copy(),
                indices,
                indptr,
                n_rows,
                n_cols,
                std,
                max_value,
                clip,
            ))
    return out


@kernel(signatures=_SIGS, example=_examples)
def scale_values_csr(data, indices, indptr, n_rows, n_cols, std, max_value, clip):
    """Divide each stored value by its column's ``std`` in place, then cap it at ``max_value``."""
    for i in numba.prange(n_rows):
        s, e = indptr[i], indptr[i + 1]
        vals = data[s:e]
        cols = indices[s:e]
        for p in range(vals.shape[0]):
            q = np.float64(vals[p]) / std[cols[p]]
            if clip:
                q = q if q < max_value else max_value  # numba's min(max_value, q)
            vals[p] = q  # race-free: row i's own values
