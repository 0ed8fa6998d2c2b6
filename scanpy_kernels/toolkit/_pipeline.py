"""The compiler pipeline of every kernel: numba's nopython pipeline plus two changes.

1. :class:`LoopHintPlacement` (after type inference, before prange loops become
   parfors) checks that every loop hint sits in the block that directly enters a
   *sequential* loop, and raises a compile error naming the line otherwise.
2. The lowering passes are replaced by versions that install the loop-metadata hook
   (:func:`._loopmd.hooked_lowering`) so the hints reach LLVM, prange bodies included.
   What was applied is recorded in ``metadata["kernel_hints"]``.

Verification passes (see :mod:`scanpy_kernels.verify`) plug in through
:attr:`KernelCompiler.extra_passes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
from numba.core import errors
from numba.core import ir as nir
from numba.core.analysis import compute_cfg_from_blocks
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import AnalysisPass, register_pass
from numba.core.typed_passes import (
    NativeLowering,
    NativeParforLowering,
    NopythonTypeInference,
)

from ._hints import LOOP_HINTS
from ._loopmd import hooked_lowering

if TYPE_CHECKING:
    from typing import ClassVar

__all__ = ["KernelCompiler", "global_value"]

_PARALLEL_LOOPS = (numba.prange, numba.pndindex)


def global_value(func_ir: nir.FunctionIR, var: nir.Var) -> object:
    """Find the Python object a variable refers to (globals, free vars, attributes)."""
    try:
        d = func_ir.get_definition(var)
    except (KeyError, errors.NotDefinedError):
        return None
    if isinstance(d, nir.Global | nir.FreeVar):
        return d.value
    if isinstance(d, nir.Expr) and d.op == "getattr":
        owner = global_value(func_ir, d.value)
        return None if owner is None else getattr(owner, d.attr, None)
    return None


def _calls(block: nir.Block):
    for stmt in block.body:
        if (
            isinstance(stmt, nir.Assign)
            and isinstance(stmt.value, nir.Expr)
            and stmt.value.op == "call"
        ):
            yield stmt


@register_pass(mutates_CFG=False, analysis_only=True)
class LoopHintPlacement(AnalysisPass):
    """Every loop hint must directly precede a sequential ``for``/``while`` loop."""

    _name = "scanpy_kernels_loop_hint_placement"

    def __init__(self) -> None:
        AnalysisPass.__init__(self)

    def run_pass(self, state) -> bool:
        fir = state.func_ir
        cfg = compute_cfg_from_blocks(fir.blocks)
        headers = {loop.header: loop for loop in cfg.loops().values()}
        sites = []
        for label, block in fir.blocks.items():
            for stmt in _calls(block):
                if global_value(fir, stmt.value.func) not in LOOP_HINTS:
                    continue
                line = stmt.loc.line
                # a for loop enters its header by `jump`; a 3.12 while loop by `branch`
                entered = [
                    t
                    for t in block.terminator.get_targets()
                    if t in headers and label in headers[t].entries
                ]
                if len(entered) != 1:
                    msg = (
                        f"loop hint at line {line} of {fir.func_id.func_qualname} must be "
                        "followed directly by a for/while loop"
                    )
                    raise errors.CompilerError(msg, loc=stmt.loc)
                if any(
                    global_value(fir, s.value.func) in _PARALLEL_LOOPS
                    for s in _calls(block)
                ):
                    msg = (
                        f"loop hint at line {line} of {fir.func_id.func_qualname} precedes "
                        "a prange loop; put it inside the prange body, before a sequential "
                        "inner loop"
                    )
                    raise errors.CompilerError(msg, loc=stmt.loc)
                sites.append(line)
        state.metadata["kernel_hint_sites"] = sorted(sites)
        return False


def _hooked(base: type) -> type:
    class Hooked(base):
        _name = f"scanpy_kernels_{base._name}"

        def run_pass(self, state) -> bool:
            log: list = []
            state.metadata["kernel_hints"] = log
            with hooked_lowering(state.targetctx, log):
                return super().run_pass(state)

    Hooked.__name__ = Hooked.__qualname__ = f"Hinted{base.__name__}"
    return register_pass(mutates_CFG=True, analysis_only=False)(Hooked)


_LOWERING = {base: _hooked(base) for base in (NativeLowering, NativeParforLowering)}


class KernelCompiler(CompilerBase):
    """Numba's nopython pipeline with hint placement checks and hint-aware lowering."""

    #: ``[(pass_class, run_after_pass_class)]`` added by subclasses (the verifier)
    extra_passes: ClassVar[list[tuple[type, type]]] = []

    def define_pipelines(self):
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pm.passes = [(_LOWERING.get(cls, cls), desc) for cls, desc in pm.passes]
        pm.add_pass_after(LoopHintPlacement, NopythonTypeInference)
        for pass_cls, after in self.extra_passes:
            if after in (cls for cls, _ in pm.passes):
                pm.add_pass_after(pass_cls, after)
        pm.finalize()
        return [pm]
