"""Graph autocorrelation of many features (``metrics.morans_i``, ``metrics.gearys_c``).

The drivers (:mod:`.drivers`) take ``vals`` (features x cells: a CSR
:class:`~.._input.Matrix` as stored, or an array in any memory order) and the cell
graph, and return scanpy's statistics bit for bit: :func:`morans_i`,
:func:`gearys_c`; :func:`features_major` is scanpy's ``tocsr()`` of a CSC ``vals``
(``X.T`` of a CSR ``X``), in parallel.  The kernels walk the graph once for a block
of features (:mod:`.autocorr`) and transpose (:mod:`.transpose`).
"""

from __future__ import annotations

from .autocorr import (
    gearys_c_csr,
    gearys_c_dense,
    graph_weight,
    morans_i_csr,
    morans_i_dense,
)
from .drivers import features_major, gearys_c, morans_i
from .transpose import feature_counts, transpose_fill

__all__ = [
    "feature_counts",
    "features_major",
    "gearys_c",
    "gearys_c_csr",
    "gearys_c_dense",
    "graph_weight",
    "morans_i",
    "morans_i_csr",
    "morans_i_dense",
    "transpose_fill",
]
