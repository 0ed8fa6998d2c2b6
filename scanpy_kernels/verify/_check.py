"""Verify one kernel: fresh compiles per declared signature, then checks (a)-(g)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numba
import numpy as np
from numba.core import ir
from numba.core.compiler import run_frontend
from numba.core.typed_passes import ParforPreLoweringPass

from ..toolkit._pipeline import KernelCompiler, global_value
from ._findings import Finding
from ._llvm import module_facts
from ._races import ParforRaceCheck

if TYPE_CHECKING:
    from ..toolkit import Kernel

__all__ = ["CheckingCompiler", "verify_kernel"]


class CheckingCompiler(KernelCompiler):
    """The kernel pipeline plus the static race check."""

    extra_passes = [(ParforRaceCheck, ParforPreLoweringPass)]  # noqa: RUF012


def _prange_sites(py_func) -> list[int]:
    """Lines of ``prange``/``pndindex`` calls in the untyped IR (ground truth)."""
    fir = run_frontend(py_func)
    return sorted(
        stmt.loc.line
        for block in fir.blocks.values()
        for stmt in block.find_insts(ir.Assign)
        if isinstance(stmt.value, ir.Expr)
        and stmt.value.op == "call"
        and global_value(fir, stmt.value.func) in (numba.prange, numba.pndindex)
    )


def _parallel_findings(md: dict, n_sites: int) -> list[tuple[str, str, int | None]]:
    diag = md.get("parfor_diagnostics")
    if diag is None:
        return [
            (
                "parallel",
                "no parfor diagnostics: the build did not run the parfor pass",
                None,
            )
        ]
    user = [
        pf for pf in diag.initial_parfors if pf.patterns[0][:2] == ("prange", "user")
    ]
    out = []
    if len(user) < n_sites:
        out.append((
            "parallel",
            (
                f"{n_sites - len(user)} of {n_sites} prange loop(s) were not converted to "
                "parallel loops (e.g. a `break`/second exit, or an unsupported construct) "
                "and run serially"
            ),
            None,
        ))
    serialized = {c for cs in diag.nested_fusion_info.values() for c in cs}
    out += [
        (
            "parallel",
            "prange nested in another parallel loop is serialized",
            pf.loc.line,
        )
        for pf in user
        if pf.id in serialized
    ]
    out += [
        (
            "race",
            f"scalar race on {sorted(pf.races)} (numba runs it but the result is unordered)",
            pf.loc.line,
        )
        for pf in user
        if pf.races
    ]
    return out


def _run(dispatcher, args):
    out = dispatcher(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])
    return out if isinstance(out, tuple) else (out,)


def _runtime_findings(k: Kernel, parallel_build) -> list[tuple[str, str, int | None]]:
    examples = k.example(np.random.default_rng(0)) if k.example else None
    if not examples:
        if k.options["parallel"]:
            return [
                (
                    "example",
                    "declare `example=` inputs so 1 vs all threads can be compared",
                    None,
                )
            ]
        return []
    n_all = numba.config.NUMBA_NUM_THREADS
    serial_build = k.fresh(parallel=False)
    findings = []
    previous = numba.get_num_threads()
    for i, args in enumerate(examples):
        one = _run(serial_build, args)
        numba.set_num_threads(n_all)
        try:
            many = _run(parallel_build, args)
        finally:
            numba.set_num_threads(previous)
        for j, (x, y) in enumerate(zip(one, many, strict=True)):
            a, b = np.asarray(x), np.asarray(y)
            same = (
                np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
                if k.tolerance == 0
                else np.allclose(a, b, rtol=k.tolerance, atol=0, equal_nan=True)
            )
            if not same:
                bound = "bitwise" if k.tolerance == 0 else f"rtol {k.tolerance:g}"
                findings.append((
                    "threads",
                    f"example {i}, output {j}: 1 thread vs {n_all} threads differ beyond {bound}",
                    None,
                ))
    return findings


def verify_kernel(k: Kernel, name: str) -> tuple[list[str], list[Finding]]:
    """Check every declared signature of ``k`` on a fresh, uncached compile."""
    findings: list[Finding] = []
    sigs = k.signatures
    if not sigs:
        findings.append(
            Finding(name, "compile", "no `signatures=` declared: CI cannot compile it")
        )
    sites = _prange_sites(k.py_func) if k.options["parallel"] else []
    # one fresh, uncached build checked per signature, then run by the run-time check
    disp = k.fresh(pipeline_class=CheckingCompiler)
    for sig in sigs:
        label = str(sig)
        try:
            with warnings.catch_warnings():
                # numba's own parallel warnings: we judge ourselves
                warnings.simplefilter("ignore")
                disp.compile(sig)
        # any failure to compile (numba raises many kinds) is a finding, not fatal
        except Exception as e:  # noqa: BLE001
            findings.append(
                Finding(
                    name,
                    "compile",
                    f"{type(e).__name__}: {str(e).strip().splitlines()[0]}",
                    label,
                )
            )
            continue
        csig = disp.signatures[-1]
        md = disp.get_metadata(csig)
        problems: list[tuple[str, str, int | None]] = []
        if k.options["parallel"] and sites:
            problems += _parallel_findings(md, len(sites))
        problems += [
            (
                "race",
                (
                    f"write may race across prange iterations: `{r['source']}` (index it by "
                    "the prange index or numba.get_thread_id(), or mark the line "
                    "`# race-free: <reason>`)"
                ),
                r["line"],
            )
            for r in md.get("kernel_races", [])
        ]
        if disp.overloads[csig].library.has_dynamic_globals:
            problems.append((
                "cache",
                (
                    "uses dynamic globals (ctypes pointers, large global arrays, "
                    "numba.get_num_threads()): numba cannot cache it, every process "
                    "recompiles"
                ),
                None,
            ))
        facts = module_facts(disp.inspect_llvm(csig))
        problems += [("python-api", c, None) for c in facts.python_calls]
        problems += [("alloc-in-loop", a, None) for a in facts.allocs_in_loops]
        problems += [
            ("index-error", f"may raise IndexError: {msg}", None)
            for exc, msg in facts.raised
            if exc == "IndexError"
        ]
        n_sites, applied = (
            len(md.get("kernel_hint_sites", [])),
            md.get("kernel_hints", []),
        )
        if len(applied) < n_sites:
            problems.append((
                "hint",
                f"{n_sites} loop hint(s) in the source, {len(applied)} became loop metadata",
                None,
            ))
        problems += [
            ("hint", f"LLVM did not honour {p} (loop left untransformed)", None)
            for p in facts.pending_hints
        ]
        findings += [
            Finding(name, check, msg, label, line) for check, msg, line in problems
        ]
    findings += [
        Finding(name, c, m, "", line) for c, m, line in _runtime_findings(k, disp)
    ]
    return [str(s) for s in sigs], findings
