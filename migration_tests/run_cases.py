"""Run the migration cases in the current environment and save every output.

Run it with the interpreter of the environment under test (pristine or patched
scanpy), from the repository root::

    python -m migration_tests.run_cases --out build/migration/pristine.pkl \
        [--family hvg] [--pattern 'hvg/seurat*'] [--shard K/N] [--list]
    python -m migration_tests.run_cases --out ALL.pkl --merge SHARD0.pkl SHARD1.pkl

For each case the input is built (once per input spec) and the call gets a fresh
deep copy. Saved per case: the whole ``obs``/``var``/``uns`` after the call (so
added columns, modified columns and ``uns`` entries, recursively, structured
arrays included), the return value (DataFrame or AnnData), ``X`` if it was
replaced or changed, whether the input matrices (``X``, layers, ``raw.X``) were
mutated in place (and if so, whether only their storage or their values), the
warnings raised, and the exception type + message if the
call failed. The output is a pickle of plain Python/numpy values; compare two of
them with ``python -m migration_tests.compare``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
import platform
import sys
import time
import traceback
import warnings
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import sparse

from .cases import Case, resolve_kwargs, select
from .inputs import InputSpec, InputUnavailable, build
from .record import (
    Fields,
    flatten_anndata,
    flatten_matrix,
    flatten_value,
    same_values,
    snapshot,
    unchanged,
)

if TYPE_CHECKING:
    from anndata import AnnData

FORMAT_VERSION = 1


def copy_matrix(m: Any) -> Any:
    """Deep copy that keeps index dtypes and non-canonical structure as they are."""
    if sparse.issparse(m):
        out = type(m)((m.data.copy(), m.indices.copy(), m.indptr.copy()), shape=m.shape)
        out.indices, out.indptr = m.indices.copy(), m.indptr.copy()
        return out
    return np.array(m, copy=True)


def _layers(adata: AnnData) -> dict[str, Any]:
    """Named layers (anndata >= 0.13 also exposes X as ``layers[None]``)."""
    return {k: v for k, v in adata.layers.items() if k is not None}


def fresh_copy(a: AnnData) -> AnnData:
    from anndata import AnnData

    b = AnnData(
        X=copy_matrix(a.X),
        obs=a.obs.copy(),
        var=a.var.copy(),
        uns=deepcopy(dict(a.uns)),
    )
    for k, v in _layers(a).items():
        b.layers[k] = copy_matrix(v)
    for k, v in a.obsm.items():
        b.obsm[k] = copy_matrix(v)
    for k, v in a.obsp.items():  # a cell graph (metrics)
        b.obsp[k] = copy_matrix(v)
    if a.raw is not None:
        b.raw = AnnData(X=copy_matrix(a.raw.X), obs=a.obs.copy(), var=a.raw.var.copy())
    return b


def _matrices(adata: AnnData) -> dict[str, Any]:
    mats = {"X": adata.X, **{f"layers/{k}": v for k, v in _layers(adata).items()}}
    if adata.raw is not None:
        mats["raw.X"] = adata.raw.X
    return mats


def _resolve_func(path: str) -> Any:
    mod_path, _, name = f"scanpy.{path}".rpartition(".")
    return getattr(importlib.import_module(mod_path), name)


def _warning_text(w: warnings.WarningMessage) -> str:
    msg = str(w.message).replace(sys.prefix, "<prefix>")
    return f"{w.category.__module__}.{w.category.__qualname__}: {msg}"


def _compile_time(w: warnings.WarningMessage) -> bool:
    """Whether numba raised `w` while compiling (only when its cache misses).

    numba's own warning classes (e.g. ``NumbaPerformanceWarning``) come from the
    compiler: whether a call raises them depends on the state of the numba cache, not
    on the function's behaviour, so they are not recorded.
    """
    return w.category.__module__.startswith("numba.")


def run_case(case: Case, base: AnnData) -> dict[str, Any]:
    adata = fresh_copy(base)
    before = _matrices(adata)
    snaps = {k: snapshot(v) for k, v in before.items()}
    kwargs = resolve_kwargs(case.kwargs, adata)
    func = _resolve_func(case.func)
    fields: Fields = {}
    ret: Any = None
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ret = func(adata, **kwargs)
        except Exception as e:
            fields["error/type"] = f"{type(e).__module__}.{type(e).__qualname__}"
            fields["error/message"] = str(e)
    elapsed = time.perf_counter() - t0
    fields["warnings"] = tuple(sorted({_warning_text(w) for w in caught if not _compile_time(w)}))
    for key, m in before.items():
        fields[f"mutated/{key}"] = mutated = not unchanged(m, snaps[key])
        if mutated:  # storage rewritten in place (values kept), or values changed
            fields[f"mutation/{key}"] = "storage" if same_values(m, snaps[key]) else "values"
    if adata.X is not before["X"] or fields["mutated/X"]:
        flatten_matrix("X", adata.X, fields)
    flatten_anndata("", adata, fields)
    if ret is None or (isinstance(ret, type(adata)) and ret is adata):
        fields["return@type"] = "None" if ret is None else "input AnnData"
    elif isinstance(ret, type(adata)):
        fields["return@type"] = "AnnData"
        flatten_anndata("return/", ret, fields)
        if ret.X is not None:  # aggregate returns layers only
            flatten_matrix("return/X", ret.X, fields)
        for k, v in _layers(ret).items():  # aggregate: one layer per func
            flatten_matrix(f"return/layers/{k}", v, fields)
    else:
        flatten_value("return", ret, fields)
    status = "error" if "error/type" in fields else "ok"
    return {"status": status, "fields": fields, "elapsed": elapsed}


def run(cases: list[Case], *, progress: bool = True) -> dict[str, dict[str, Any]]:
    import scanpy as sc

    sc.settings.verbosity = 0
    inputs: dict[InputSpec, AnnData | InputUnavailable] = {}
    results: dict[str, dict[str, Any]] = {}
    for i, case in enumerate(cases, 1):
        if case.input not in inputs:
            try:
                inputs[case.input] = build(case.input)
            except InputUnavailable as e:
                inputs[case.input] = e
        base = inputs[case.input]
        if isinstance(base, InputUnavailable):
            results[case.id] = {
                "status": "unavailable",
                "reason": str(base),
                "fields": {},
            }
        else:
            try:
                results[case.id] = run_case(case, base)
            except Exception:
                results[case.id] = {
                    "status": "harness-error",
                    "reason": traceback.format_exc(),
                    "fields": {},
                }
        results[case.id]["family"] = case.family
        results[case.id]["call"] = case.describe()
        if progress:
            r = results[case.id]
            took = f"{r['elapsed']:.2f}s" if "elapsed" in r else ""
            print(f"[{i}/{len(cases)}] {r['status']:<12} {took:>7} {case.id}", flush=True)
    return results


def environment() -> dict[str, str]:
    from importlib.metadata import version

    import scanpy

    info = {"python": platform.python_version(), "scanpy_file": scanpy.__file__}
    for dist in (
        "scanpy",
        "anndata",
        "numpy",
        "scipy",
        "pandas",
        "numba",
        "scikit-learn",
    ):
        info[dist] = version(dist)
    try:
        importlib.import_module("scanpy._kernels")
        info["scanpy._kernels"] = "present"
    except ImportError:
        info["scanpy._kernels"] = "absent"
    info["NUMBA_NUM_THREADS"] = os.environ.get("NUMBA_NUM_THREADS", "")
    return info


def _reexec_with_fixed_hash_seed() -> None:
    """scanpy builds some error messages from sets of strings; fix their order."""
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)


def _shard_arg(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit() and int(k) < int(n)):
        msg = f"expected K/N with 0 <= K < N, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(k), int(n)


def shard(cases: list[Case], k: int, n: int) -> list[Case]:
    """The cases of shard ``k`` of ``n``, whole inputs per shard (each is built once).

    Inputs go to the shard with the fewest cases so far, most cases first.
    """
    by_input: dict[InputSpec, int] = {}
    for c in cases:
        by_input[c.input] = by_input.get(c.input, 0) + 1
    load = [0] * n
    owner: dict[InputSpec, int] = {}
    for spec, count in sorted(by_input.items(), key=lambda kv: -kv[1]):
        owner[spec] = load.index(min(load))
        load[owner[spec]] += count
    return [c for c in cases if owner[c.input] == k]


def merge(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """One output from the outputs of shards (same environment, disjoint cases)."""
    cases: dict[str, dict[str, Any]] = {}
    for p in payloads:
        if p["environment"] != payloads[0]["environment"]:
            msg = "cannot merge outputs of different environments"
            raise ValueError(msg)
        if cases.keys() & p["cases"].keys():
            msg = "cannot merge outputs that share cases"
            raise ValueError(msg)
        cases.update(p["cases"])
    return {
        **payloads[0],
        "families": sorted({f for p in payloads for f in p["families"]}),
        "cases": cases,
        "elapsed": max(p["elapsed"] for p in payloads),
    }


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return pickle.load(f)


def _save(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="pickle to write")
    parser.add_argument("--family", action="append", help="only these families")
    parser.add_argument("--pattern", help="only case ids matching this glob")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument(
        "--shard", type=_shard_arg, help="K/N: only the K-th of N shards (0 <= K < N)"
    )
    parser.add_argument(
        "--merge", type=Path, nargs="+", help="write the union of these outputs to --out"
    )
    args = parser.parse_args(argv)
    if args.merge:
        if args.out is None:
            parser.error("--merge needs --out")
        _save(args.out, merge([_load(p) for p in args.merge]))
        return 0
    cases = select(args.family, args.pattern)
    if args.shard is not None:
        cases = shard(cases, *args.shard)
    if args.list:
        for c in cases:
            print(f"{c.id}\n    {c.describe()}")
        print(f"{len(cases)} cases")
        return 0
    if args.out is None:
        parser.error("--out is required unless --list")
    t0 = time.perf_counter()
    results = run(cases, progress=not args.quiet)
    payload = {
        "format": FORMAT_VERSION,
        "environment": environment(),
        "families": sorted({c.family for c in cases}),
        "pattern": args.pattern,
        "cases": results,
        "elapsed": time.perf_counter() - t0,
    }
    _save(args.out, payload)
    counts: dict[str, int] = {}
    for r in results.values():
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    print(f"{len(results)} cases ({summary}) in {payload['elapsed']:.1f}s -> {args.out}")
    harness = [cid for cid, r in results.items() if r["status"] == "harness-error"]
    for cid in harness:
        print(f"HARNESS ERROR in {cid}:\n{results[cid]['reason']}", file=sys.stderr)
    return 1 if harness else 0


if __name__ == "__main__":
    _reexec_with_fixed_hash_seed()
    sys.exit(main())
