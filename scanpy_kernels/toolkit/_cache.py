"""A numba function cache whose key also covers the kernel layer's sources and the options.

numba's index key is ``(signature, target CPU, bytecode hash)``: it ignores jit
options, the ``pipeline_class`` and the code of this toolkit.  A hinted and a plain
build of one function, or a parallel and a serial variant, would share an entry,
and a change to the hint machinery would keep serving stale machine code.  The salt
fixes all three.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from numba.core.caching import FunctionCache

from .._version import __version__

__all__ = ["KernelCache", "toolkit_fingerprint"]


@cache
def toolkit_fingerprint() -> str:
    """Version plus a hash of every source of the kernel layer.

    numba's key covers only the kernel's own file; helpers it inlines or calls live in
    other modules (the toolkit's hint lowering, a family's ``_common.py``), and an edit
    there would otherwise keep serving stale machine code.
    """
    root = Path(__file__).parents[1]  # scanpy_kernels/ (or scanpy/_kernels/ vendored)
    h = hashlib.sha256(__version__.encode())
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return f"{__version__}+{h.hexdigest()[:16]}"


class KernelCache(FunctionCache):
    """:class:`~numba.core.caching.FunctionCache` with a salted index key."""

    def __init__(self, py_func, salt: str) -> None:
        super().__init__(py_func)
        self.salt = f"{toolkit_fingerprint()}|{salt}"

    def _index_key(self, sig, codegen):
        return (*super()._index_key(sig, codegen), self.salt)
