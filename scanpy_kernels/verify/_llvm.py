"""Checks (c)-(f) on the optimised LLVM module of a kernel build.

``Dispatcher.inspect_llvm(sig)`` is the whole module: the kernel, its outlined parfor
bodies (``__numba_parfor_gufunc_*``), their ``__gufunc__`` launch wrappers and the
CPython / cfunc wrappers.  The wrappers talk to Python by design and are skipped; the
``__gufunc__`` wrapper may re-raise a body's error under the GIL (error path only).
"""

from __future__ import annotations

import ctypes
import pickle
import re
from dataclasses import dataclass, field

import llvmlite.binding as llb

from ..toolkit._loopmd import back_edge_loops

__all__ = ["ModuleFacts", "module_facts"]

_PY_CALL = re.compile(r"^_?Py")
_NUMBA_PY_HELPERS = {
    "numba_unpickle", "numba_do_raise", "numba_gil_ensure", "numba_gil_release",
    "numba_runtime_build_excinfo_struct", "numba_py_type", "numba_extract_record_data",
}  # fmt: skip
# the parallel launcher releases/reacquires the GIL around the parallel region
_LAUNCHER_OK = {
    "PyEval_SaveThread",
    "PyEval_RestoreThread",
    "numba_gil_ensure",
    "numba_gil_release",
}
_GUFUNC_ERROR_PATH = {
    "PyErr_Clear", "PyErr_SetNone", "PyErr_SetString", "PyBytes_FromStringAndSize",
    "numba_gil_ensure", "numba_gil_release", "numba_do_raise",
    "numba_runtime_build_excinfo_struct", "numba_unpickle",
}  # fmt: skip
_ALLOC = re.compile(r"^(NRT_MemInfo_(alloc|new|varsize)|NRT_Allocate)")


def _role(name: str) -> str:
    if name.startswith(("_ZN7cpython", "cfunc.")):
        return "wrapper"
    if name.startswith("__gufunc__"):
        return "gufunc-wrapper"
    if name.startswith(("NRT_", "nrt_")):
        return "runtime"
    return "kernel"


def _key(v) -> int:
    return ctypes.cast(v._ptr, ctypes.c_void_p).value


def _loop_depth(fn) -> dict[int, int]:
    """Block -> number of natural loops containing it (dominator-based)."""
    blocks = list(fn.blocks)
    names = [_key(b) for b in blocks]
    succ = {
        _key(b): [
            _key(o)
            for o in list(b.instructions)[-1].operands
            if o.value_kind == llb.ValueKind.basic_block
        ]
        for b in blocks
    }
    depth = dict.fromkeys(names, 0)
    for _, _, body in back_edge_loops(names, succ):
        for b in body:
            depth[b] += 1
    return depth


@dataclass
class _Fn:
    role: str
    # (callee, in a loop)
    calls: list[tuple[str | None, bool]] = field(default_factory=list)


@dataclass
class ModuleFacts:
    python_calls: list[str]
    allocs_in_loops: list[str]
    raised: set[tuple[str, str]]
    pending_hints: list[str]


def _unescape(s: str) -> bytes:
    out, i = bytearray(), 0
    while i < len(s):
        if s[i] == "\\" and s[i + 1] == "\\":
            out.append(92)
            i += 2
        elif s[i] == "\\":
            out.append(int(s[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(ord(s[i]))
            i += 1
    return bytes(out)


def _raised(ir_text: str, kernel_fns: set[str]) -> set[tuple[str, str]]:
    """Exceptions the kernel functions can raise, decoded from numba's pickled constants."""
    data = {
        m[1]: _unescape(m[2])
        for m in re.finditer(
            r'^@(\.const\.pickledata\.\w+) = [^"]*c"((?:[^"\\]|\\..)*)"', ir_text, re.M
        )
    }
    raised = set()
    for m in re.finditer(
        r"^define [^@]*@\"?([^\s(\"]+)\"?\(.*?^\}", ir_text, re.M | re.S
    ):
        if m[1] not in kernel_fns:
            continue
        for buf in re.findall(
            r"store ptr @\.const\.picklebuf\.(\w+), ptr %excinfo", m[0]
        ):
            try:
                exc = pickle.loads(data[f".const.pickledata.{buf}"])
                raised.add((exc[0].__name__, str(exc[1])))
            # whatever unpickling numba's constant raises, it is reported, not fatal
            except Exception as e:  # noqa: BLE001
                raised.add(("<undecodable>", repr(e)))
    return raised


def _functions(mod: llb.ModuleRef) -> dict[str, _Fn]:
    """Collect each defined function's role and calls: ``(callee, in a loop)``."""
    fns: dict[str, _Fn] = {}
    for fn in mod.functions:
        if fn.is_declaration:
            continue
        info = fns[fn.name] = _Fn(_role(fn.name))
        depth = _loop_depth(fn)
        # the gufunc wrapper's own loop runs once per chunk, not per iteration
        base = 1 if info.role == "gufunc-wrapper" else 0
        for b in fn.blocks:
            in_loop = depth[_key(b)] > base
            for ins in b.instructions:
                if ins.opcode in ("call", "invoke"):
                    callee = list(ins.operands)[-1].name or None
                    info.calls.append((callee, in_loop))
    return fns


def _allocating(fns: dict[str, _Fn]) -> set[str]:
    """Find the functions that (transitively) allocate."""
    allocating = {
        n for n, f in fns.items() if any(c and _ALLOC.match(c) for c, _ in f.calls)
    }
    grew = True
    while grew:
        grew = False
        for n, f in fns.items():
            if n not in allocating and any(c in allocating for c, _ in f.calls):
                allocating.add(n)
                grew = True
    return allocating


def module_facts(ir_text: str) -> ModuleFacts:
    fns = _functions(llb.parse_assembly(ir_text))
    allocating = _allocating(fns)
    python_calls, allocs = [], []
    for name, f in fns.items():
        if f.role in ("wrapper", "runtime"):
            continue
        callees = {c for c, _ in f.calls}
        allowed = _LAUNCHER_OK if "numba_parallel_for" in callees else set()
        if f.role == "gufunc-wrapper":
            allowed = allowed | _GUFUNC_ERROR_PATH
        for c, in_loop in f.calls:
            if c is None:
                python_calls.append(f"{name[:48]}: indirect call")
            elif c not in allowed and (_PY_CALL.match(c) or c in _NUMBA_PY_HELPERS):
                python_calls.append(f"{name[:48]}: calls {c}")
            if in_loop and c and (_ALLOC.match(c) or c in allocating):
                allocs.append(f"{name[:48]}: {c}")
    kernel_fns = {n for n, f in fns.items() if f.role == "kernel"}
    pending = _pending_hints(ir_text)
    return ModuleFacts(
        sorted(set(python_calls)),
        sorted(set(allocs)),
        _raised(ir_text, kernel_fns),
        pending,
    )


def _pending_hints(ir_text: str) -> list[str]:
    """Loop hints LLVM left unapplied: after a transformation it drops the request."""
    return [
        f"llvm.loop.{m[1]} {m[2]}"
        for m in re.finditer(
            r'^!\d+ = !\{!"llvm\.loop\.(vectorize\.width|unroll\.count|interleave\.count)", i32 (\d+)\}$',
            ir_text,
            re.M,
        )
        if not (m[1] == "vectorize.width" and m[2] == "1")
    ]
