"""Compiler hints as Numba intrinsics: assume, likely/unlikely, prefetch, loop hints.

``assume``/``likely``/``unlikely``/``prefetch`` lower directly to ``llvm.assume`` /
``llvm.expect.i1`` / ``llvm.prefetch``.

Loop hints (``vectorize``, ``unroll``, ``interleave``) lower to a *marker*: a call to
``llvm.donothing`` carrying ``!scanpy_kernels.hint`` metadata.  In a kernel built by
:func:`~scanpy_kernels.toolkit.kernel`, the loop-metadata pass (:mod:`._loopmd`) turns
each marker into ``!llvm.loop`` metadata on the next loop and deletes it; under plain
``numba.njit`` the marker is an inert no-op that LLVM drops.
"""

from __future__ import annotations

import llvmlite.ir as lir
from numba import types
from numba.core import cgutils, errors
from numba.extending import intrinsic

from ._cpu import lanes_for

__all__ = [
    "HINT_METADATA",
    "LOOP_HINTS",
    "assume",
    "interleave",
    "lanes",
    "likely",
    "prefetch",
    "unlikely",
    "unroll",
    "vectorize",
]

HINT_METADATA = "scanpy_kernels.hint"
_I1 = lir.IntType(1)
_I32 = lir.IntType(32)


def _emit_marker(builder: lir.IRBuilder, hints: dict[str, int]) -> None:
    """Emit ``call void @llvm.donothing(), !scanpy_kernels.hint !{...}``."""
    module = builder.module
    fn = cgutils.get_or_insert_function(
        module, lir.FunctionType(lir.VoidType(), []), "llvm.donothing"
    )
    call = builder.call(fn, [])
    nodes = [
        module.add_metadata([
            lir.MetaDataString(module, key),
            lir.Constant(_I1 if key.endswith(".enable") else _I32, val),
        ])
        for key, val in hints.items()
    ]
    call.set_metadata(HINT_METADATA, module.add_metadata(nodes))


def _count(hint: str, arg: types.Type) -> int:
    """Compile-time count of a loop hint: an int literal, or lanes of an array's dtype."""
    if isinstance(arg, types.IntegerLiteral):
        n = arg.literal_value
    elif hint == "vectorize" and isinstance(arg, types.Array):
        n = lanes_for(arg.dtype)
    else:
        msg = f"{hint}() takes a compile-time integer literal" + (
            " or an array (lanes of its dtype)" if hint == "vectorize" else ""
        )
        raise errors.TypingError(msg)
    if n < 1:
        msg = f"{hint}({n}): the count must be >= 1"
        raise errors.TypingError(msg)
    return n


def _loop_hint(hint: str, make: callable):
    def typer(typingctx, n):
        md = make(_count(hint, n))

        def codegen(context, builder, sig, args):
            _emit_marker(builder, md)
            return context.get_dummy_value()

        return types.none(n), codegen

    typer.__name__ = hint
    return intrinsic(prefer_literal=True)(typer)


vectorize = _loop_hint(
    "vectorize",
    lambda n: {"llvm.loop.vectorize.width": n, "llvm.loop.vectorize.enable": 1},
)
vectorize.__doc__ = """Vectorize the next sequential loop with ``n`` lanes.

``n`` is an integer literal, or an array: then the lane count LLVM prefers for its
dtype on the target CPU (see :func:`lanes`).  An explicit width lets LLVM reorder
a floating-point reduction *of that loop only* (no global ``fastmath``).
"""
unroll = _loop_hint("unroll", lambda n: {"llvm.loop.unroll.count": n})
unroll.__doc__ = (
    "Unroll the next sequential loop ``n`` times (``llvm.loop.unroll.count``)."
)
interleave = _loop_hint("interleave", lambda n: {"llvm.loop.interleave.count": n})
interleave.__doc__ = (
    "Interleave ``n`` copies of the next loop (``llvm.loop.interleave.count``)."
)

#: the intrinsics that must precede a loop (checked by the placement pass)
LOOP_HINTS = frozenset({vectorize, unroll, interleave})


@intrinsic
def lanes(typingctx, arr):
    """Vector lanes for ``arr.dtype`` on the target CPU, as a compile-time constant."""
    if not isinstance(arr, types.Array):
        msg = "lanes() takes an array"
        raise errors.TypingError(msg)
    n = lanes_for(arr.dtype)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.intp, n)

    return types.intp(arr), codegen


def _require_bool(name: str, cond: types.Type) -> None:
    if not isinstance(cond, types.Boolean):
        msg = f"{name}() takes a boolean condition, got {cond}"
        raise errors.TypingError(msg)


@intrinsic
def assume(typingctx, cond):
    """Promise LLVM that ``cond`` holds (``llvm.assume``); undefined behaviour if it does not."""
    _require_bool("assume", cond)

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(
            builder.module, lir.FunctionType(lir.VoidType(), [_I1]), "llvm.assume"
        )
        builder.call(fn, [args[0]])
        return context.get_dummy_value()

    return types.none(cond), codegen


def _expect(name: str, expected: int):
    def typer(typingctx, cond):
        _require_bool(name, cond)

        def codegen(context, builder, sig, args):
            fn = cgutils.get_or_insert_function(
                builder.module, lir.FunctionType(_I1, [_I1, _I1]), "llvm.expect.i1"
            )
            return builder.call(fn, [args[0], lir.Constant(_I1, expected)])

        return types.boolean(cond), codegen

    typer.__name__ = name
    return intrinsic(typer)


likely = _expect("likely", 1)
likely.__doc__ = "``cond``, telling LLVM it is usually true (``llvm.expect``)."
unlikely = _expect("unlikely", 0)
unlikely.__doc__ = "``cond``, telling LLVM it is usually false (``llvm.expect``)."


@intrinsic
def prefetch(typingctx, arr, i):
    """Ask the CPU to start loading ``arr[i]`` into cache (``llvm.prefetch``, read, L1).

    For loads whose address the hardware prefetcher cannot guess (e.g. the next row
    of a CSR matrix, jumped to from a cursor): issue it a few iterations ahead.  A
    hint only: no bounds check and no fault, ``i`` may lie past the end.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1):
        msg = "prefetch() takes a 1-D array and an index"
        raise errors.TypingError(msg)
    if not isinstance(i, types.Integer):
        msg = f"prefetch() takes an integer index, got {i}"
        raise errors.TypingError(msg)

    def codegen(context, builder, sig, args):
        aty, ity = sig.args
        ary = context.make_array(aty)(context, builder, args[0])
        idx = context.cast(builder, args[1], ity, types.intp)
        ptr = cgutils.get_item_pointer(
            context, builder, aty, ary, [idx], wraparound=False, boundscheck=False
        )
        i8p = lir.IntType(8).as_pointer()
        fn = cgutils.get_or_insert_function(
            builder.module,
            lir.FunctionType(lir.VoidType(), [i8p, _I32, _I32, _I32]),
            "llvm.prefetch.p0i8",
        )
        # rw = 0 (read), locality = 3 (keep in all levels), cache type = 1 (data)
        flags = [lir.Constant(_I32, v) for v in (0, 3, 1)]
        builder.call(fn, [builder.bitcast(ptr, i8p), *flags])
        return context.get_dummy_value()

    return types.none(arr, i), codegen
