"""Static check (b): writes in a prange body that may race across iterations.

numba only detects scalar races; ``out[idx[i]] += w[i]`` parallelises silently and
is wrong.  This pass runs right after ``ParforPreLoweringPass`` (before lowering
renames variables) and flags every ``setitem`` inside a top-level parfor body whose
target array is not private to the iteration and whose index is not

- the parfor index, or a tuple containing it,
- ``numba.get_thread_id()`` (per-thread rows), or a row view taken with such an index.

Arrays allocated inside the body are private.  A write that is provably disjoint by
other means (a CSR row's own ``indptr`` range, a column block) is accepted only with
an explicit marker on its line: ``# race-free: <reason>`` (on any physical line of the
statement: a formatter may move the comment to a continuation line).
"""

from __future__ import annotations

import linecache
import re
import tokenize

import numba
from numba.core import ir
from numba.core.compiler_machinery import AnalysisPass, register_pass
from numba.parfors.parfor import Parfor

__all__ = ["MARKER", "ParforRaceCheck", "find_races"]

MARKER = "race-free:"
_MARKER_RE = re.compile(r"#\s*race-free:\s*\S")
_ALLOCATORS = {
    "empty",
    "zeros",
    "ones",
    "full",
    "empty_like",
    "zeros_like",
    "ones_like",
    "copy",
}
_THREAD_ID = numba.get_thread_id


def _definitions(blocks: dict, defs: dict) -> dict:
    for block in blocks.values():
        for stmt in block.body:
            if isinstance(stmt, ir.Assign):
                defs.setdefault(stmt.target.name, []).append(stmt.value)
            elif isinstance(stmt, Parfor):  # a nested parfor: its set-up block and body
                _definitions({-1: stmt.init_block, **stmt.loop_body}, defs)
    return defs


class _Body:
    """Privacy facts about one parfor body."""

    def __init__(self, parfor: Parfor, func_ir: ir.FunctionIR) -> None:
        self.defs = _definitions(parfor.loop_body, {})
        self.outer = _definitions(func_ir.blocks, {})
        self.index_vars = {ln.index_variable.name for ln in parfor.loop_nests}

    def _values(self, name: str) -> list:
        return self.defs.get(name) or self.outer.get(name, [])

    def resolve(self, name: str) -> str:
        for _ in range(32):  # follow plain copies: a = b
            vals = self.defs.get(name, [])
            if len(vals) != 1 or not isinstance(vals[0], ir.Var):
                break
            name = vals[0].name
        return name

    def callee(self, expr: ir.Expr) -> object:
        for v in self._values(expr.func.name):
            if isinstance(v, ir.Global | ir.FreeVar):
                return v.value
            if isinstance(v, ir.Expr) and v.op == "getattr":
                return v.attr
        return None

    def private_index(self, name: str) -> bool:
        name = self.resolve(name)
        if name in self.index_vars:
            return True
        for v in self.defs.get(name, []):
            if not isinstance(v, ir.Expr):
                continue
            if v.op == "build_tuple" and any(
                self.private_index(it.name) for it in v.items
            ):
                return True
            if v.op == "call" and self.callee(v) in (_THREAD_ID, "get_thread_id"):
                return True
        return False

    def private_array(self, name: str) -> bool:
        name = self.resolve(name)
        for v in self.defs.get(name, []):
            if not isinstance(v, ir.Expr):
                continue
            if v.op == "call":
                c = self.callee(v)
                if getattr(c, "__name__", c) in _ALLOCATORS:
                    return True  # allocated inside the body
            if v.op in ("getitem", "static_getitem"):
                idx = v.index if v.op == "getitem" else v.index_var
                if idx is not None and self.private_index(idx.name):
                    return True  # row view out[i] / partials[tid]
                if self.private_array(v.value.name):
                    return True
        return False


def _statement_comments(filename: str, line: int) -> list[str]:
    """Comments of the logical line (statement) that starts at ``line``."""
    lines = iter(linecache.getlines(filename)[line - 1 :])
    comments = []
    try:
        for tok in tokenize.generate_tokens(lambda: next(lines, "")):
            if tok.type == tokenize.COMMENT:
                comments.append(tok.string)
            elif tok.type in {tokenize.NEWLINE, tokenize.ENDMARKER}:
                break
    except (tokenize.TokenError, SyntaxError):
        pass  # a truncated statement: the comments found so far
    return comments


def _marked(loc: ir.Loc) -> bool:
    return any(
        _MARKER_RE.search(c) for c in _statement_comments(loc.filename, loc.line)
    )


def find_races(func_ir: ir.FunctionIR) -> list[dict]:
    """Unmarked writes in top-level parfor bodies that are not provably private."""
    found = []

    def scan(blocks: dict, body: _Body) -> None:
        for block in blocks.values():
            for stmt in block.body:
                if isinstance(stmt, Parfor):  # nested parfors run serially in the body
                    scan({-1: stmt.init_block, **stmt.loop_body}, body)
                elif isinstance(stmt, ir.SetItem | ir.StaticSetItem):
                    idx = stmt.index if isinstance(stmt, ir.SetItem) else stmt.index_var
                    if body.private_array(stmt.target.name):
                        continue
                    if idx is not None and body.private_index(idx.name):
                        continue
                    if _marked(stmt.loc):
                        continue
                    src = linecache.getline(stmt.loc.filename, stmt.loc.line).strip()
                    found.append({"line": stmt.loc.line, "source": src})

    for block in func_ir.blocks.values():
        for stmt in block.body:
            if isinstance(stmt, Parfor):
                scan(stmt.loop_body, _Body(stmt, func_ir))
    return found


@register_pass(mutates_CFG=False, analysis_only=True)
class ParforRaceCheck(AnalysisPass):
    """Record possible races in ``metadata["kernel_races"]`` (the verifier reports them)."""

    _name = "scanpy_kernels_parfor_race_check"

    def __init__(self) -> None:
        AnalysisPass.__init__(self)

    def run_pass(self, state) -> bool:
        state.metadata["kernel_races"] = find_races(state.func_ir)
        return False
