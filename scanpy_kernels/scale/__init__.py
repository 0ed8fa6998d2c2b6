"""Per-gene scaling (``scale``) of CSR matrices and arrays.

The driver (:mod:`.drivers`) takes a CSR :class:`~.._input.Matrix` as stored
(``as_matrix(x, stored=True)``) or a C-contiguous array and returns scanpy's results
bit for bit: :func:`scale` (the genes' moments through :func:`..hvg.mean_var`; a CSR
matrix zero-centred into a new dense array, :func:`.center.center_scale_csr`, or its
stored values scaled in place, :func:`.values.scale_values_csr`; an array in place,
:func:`.center.scale_dense`).
"""

from __future__ import annotations

from .center import center_scale_csr, scale_dense
from .drivers import Scaled, scale
from .values import scale_values_csr

__all__ = ["Scaled", "center_scale_csr", "scale", "scale_dense", "scale_values_csr"]
