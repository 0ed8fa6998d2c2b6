"""Vector width of the JIT target: what LLVM's cost model prefers, per dtype.

The lane count of ``vectorize(array)`` / ``lanes(array)`` is resolved while a kernel
is typed, so a float32 and a float64 build of one kernel get different widths (8 and 4
on AVX2).  On AVX-512 parts LLVM often *prefers* 256-bit vectors (``prefer-256-bit``
tuning on skylake-avx512 and its successors) while znver4 prefers 512-bit ones:
forcing the ISA maximum would fight the cost model, so we probe the preferred width
once by compiling a tiny fast-math reduction for the configured target and reading
the register class from its assembly.
"""

from __future__ import annotations

from functools import cache

from numba import njit, types

__all__ = ["lanes_for", "preferred_vector_bits"]


def _probe(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
    return s


@cache
def preferred_vector_bits() -> int:
    """Bits per vector register LLVM uses for the JIT target (honours NUMBA_CPU_NAME/FEATURES)."""
    sig = (types.float32[::1],)
    disp = njit(sig, fastmath=True, cache=False)(_probe)
    asm = disp.inspect_asm(disp.signatures[0])
    if "%zmm" in asm:
        return 512
    if "%ymm" in asm:
        return 256
    return 128


def lanes_for(dtype: types.Type) -> int:
    """Vector lanes for ``dtype`` on the JIT target (at least 1)."""
    if isinstance(dtype, types.NumberClass):
        dtype = dtype.instance_type
    bitwidth = getattr(dtype, "bitwidth", 64)
    return max(1, preferred_vector_bits() // bitwidth)
