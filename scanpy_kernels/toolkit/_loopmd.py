"""Turn loop-hint markers into ``!llvm.loop`` metadata before LLVM optimises the module.

Runs on the *llvmlite.ir* module numba has just lowered (``BaseContext.post_lowering``),
i.e. before it is parsed and optimised.  For each marker it finds the next natural loop
(dominator-based back edges) that does not contain the marker, and attaches a
**distinct, self-referential** loop ID to every latch of that loop::

    br label %header, !llvm.loop !7
    !7 = distinct !{!7, !8, !9}
    !8 = !{!"llvm.loop.vectorize.width", i32 8}

LLVM ignores loop metadata without the self reference.  Markers are then deleted.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import llvmlite.ir as lir
from numba.core import errors

from ._hints import HINT_METADATA

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = ["apply_loop_hints", "hooked_lowering"]


class _LoopID(lir.values.MDValue):
    """``!N = distinct !{!N, hints...}``."""

    def __init__(self, module: lir.Module, hints: list) -> None:
        super().__init__(module, hints, name=str(len(module.metadata)))

    def descr(self, buf: list) -> None:
        ops = ", ".join(
            [self.get_reference()] + [h.get_reference() for h in self.operands]
        )
        buf += (f"distinct !{{ {ops} }}", "\n")

    # identity semantics: two loop IDs with equal hints must stay distinct
    __eq__ = object.__eq__
    __ne__ = object.__ne__
    __hash__ = object.__hash__


def _successors(block: lir.Block) -> list[lir.Block]:
    term = block.terminator
    if term is None:
        return []
    if isinstance(term, lir.instructions.SwitchInstr):
        return [term.default, *(b for _, b in term.cases)]
    return [op for op in term.operands if isinstance(op, lir.Block)]


def back_edge_loops(nodes: list, succ: dict) -> Iterator[tuple[Any, Any, set]]:
    """Yield ``(header, latch, body)`` for each back edge of a CFG (entry ``nodes[0]``).

    Iterative dominator sets (functions are small; clarity over speed); an edge
    ``latch -> header`` is a back edge when ``header`` dominates ``latch``; ``body`` is
    the header and every node reaching the latch without passing the header.  Nodes:
    any hashable (llvmlite IR blocks here, LLVM block addresses in the verifier).
    """
    pred: dict = {n: [] for n in nodes}
    for n, ss in succ.items():
        for s in ss:
            pred[s].append(n)
    dom = {n: set(nodes) for n in nodes}
    dom[nodes[0]] = {nodes[0]}
    changed = True
    while changed:
        changed = False
        for n in nodes[1:]:
            preds = [dom[p] for p in pred[n]]
            new = {n} | (set.intersection(*preds) if preds else set())
            if new != dom[n]:
                dom[n], changed = new, True
    for n in nodes:
        for header in succ[n]:
            if header in dom[n]:
                body, stack = {header, n}, [n] if n != header else []
                while stack:
                    for p in pred[stack.pop()]:
                        if p not in body:
                            body.add(p)
                            stack.append(p)
                yield header, n, body


def _natural_loops(func: lir.Function):
    """Return ``{header: (body blocks, latches)}`` and the successor map."""
    blocks = func.blocks
    succ = {b: _successors(b) for b in blocks}
    loops: dict[lir.Block, tuple[set, list]] = {}
    for header, latch, body in back_edge_loops(blocks, succ):
        merged, latches = loops.setdefault(header, ({header}, []))
        latches.append(latch)
        merged |= body
    return loops, succ


def _next_loop(start: lir.Block, loops, succ) -> lir.Block | None:
    """Breadth-first: the first loop header reachable from ``start`` whose loop excludes it."""
    seen, frontier = {start}, [start]
    while frontier:
        nxt = []
        for b in frontier:
            for s in succ[b]:
                if s in seen:
                    continue
                seen.add(s)
                if s in loops and start not in loops[s][0]:
                    return s
                nxt.append(s)
        frontier = nxt
    return None


def apply_loop_hints(module: lir.Module) -> list[tuple[str, dict[str, int]]]:
    """Attach hint metadata to loops of ``module``; return ``[(function, hints), ...]``."""
    applied = []
    for func in module.functions:
        if not func.blocks:
            continue
        markers = [
            (blk, ins)
            for blk in func.blocks
            for ins in blk.instructions
            if HINT_METADATA in getattr(ins, "metadata", {})
        ]
        if not markers:
            continue
        loops, succ = _natural_loops(func)
        per_header: dict[lir.Block, dict[str, object]] = {}
        for blk, ins in markers:
            header = _next_loop(blk, loops, succ)
            # the typed-IR placement pass normally catches this first
            if header is None:
                msg = f"a loop hint in {func.name} is not followed by a loop"
                raise errors.CompilerError(msg)
            hints = per_header.setdefault(header, {})
            for node in ins.metadata[HINT_METADATA].operands:
                hints[node.operands[0].string] = node  # a later hint of one kind wins
            blk.instructions.remove(ins)
        for header, hints in per_header.items():
            loop_id = _LoopID(module, list(hints.values()))
            for latch in loops[header][1]:
                latch.terminator.set_metadata("llvm.loop", loop_id)
            applied.append((
                func.name,
                {k: int(n.operands[1].constant) for k, n in hints.items()},
            ))
    return applied


@contextmanager
def hooked_lowering(targetctx, log: list) -> Iterator[None]:
    """Install :func:`apply_loop_hints` as ``targetctx.post_lowering`` while lowering.

    Parfor bodies are outlined into gufuncs and compiled with the same target context
    while the outer function is lowered, so the hook reaches prange bodies too.
    """
    previous = vars(targetctx).get("post_lowering")
    if getattr(previous, "hint_log", None) is not None:
        # nested kernel compile (a kernel calling a kernel): the outer hook already
        # covers this module; its log collects everything
        yield
        return
    cls_hook = type(targetctx).post_lowering

    def post_lowering(mod, library):
        log.extend(apply_loop_hints(mod))
        return cls_hook(targetctx, mod, library)

    post_lowering.hint_log = log
    targetctx.post_lowering = post_lowering
    try:
        yield
    finally:
        if previous is None:
            del targetctx.post_lowering
        else:
            targetctx.post_lowering = previous
