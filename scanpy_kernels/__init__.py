"""scanpy's kernel layer: pure, parallel, verified numba kernels.

Vendored verbatim as ``scanpy._kernels``; relative imports only.  Kernels take arrays,
CSR/CSC components or :mod:`.sparse` views, never AnnData, strings or flavors:
validation and dispatch are the frontend's job.
"""

from __future__ import annotations

from ._version import __version__

__all__ = ["__version__"]
