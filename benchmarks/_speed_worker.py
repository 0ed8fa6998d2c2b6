"""One speed.py measurement process: some cases on one dataset, one implementation.

    PY benchmarks/_speed_worker.py '{"impl": "scanpy", "cases": ["hvg_seurat"],
        "data": "S", "fmt": "csr", "threads": 2, "repeats": 3, "min_time": 1.0,
        "warmup": "slice"}'

``impl`` is ``scanpy`` (whatever scanpy this interpreter has: pristine or patched),
``biosparse`` or ``illico`` (:mod:`_speed_public`).  The parent sets
``NUMBA_NUM_THREADS`` & co. (and ``NUMBA_CACHE_DIR`` for compile-time runs) before
starting this process; ``sc.settings.n_jobs`` is set here to the same count, unless
``"default_settings": true`` (scanpy's default, as a user who changes nothing has it).

Per case: a warm-up call (``warmup``: ``slice`` = on ~2,000 cells of the same matrix,
same dtype and format, so numba compiles the same signatures; ``full`` = on the
data; ``none``), then timed calls until ``repeats`` calls or ``min_time`` seconds.
Prints ``RESULT {json}`` (see :mod:`_speed_proc`).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from typing import Any

from _speed_proc import HERE, emit, measure, timed, version

WARM_CELLS = 2000


def _impl(name: str, sc: Any) -> Any:
    """``case name, adata -> callable or None`` for an implementation."""
    if name == "scanpy":
        from _speed_cases import CASES

        def prepared(case: str, adata: Any) -> Any:
            if CASES[case].prepare is not None:  # not timed
                CASES[case].prepare(adata)
            return lambda: CASES[case].call(sc, adata)

        return prepared
    import _speed_public

    return getattr(_speed_public, f"{name}_call")


def _subset(adata: Any) -> Any:
    step = max(1, adata.n_obs // WARM_CELLS)
    return adata[::step].copy()


def main() -> None:
    job = json.loads(sys.argv[1])
    sys.path.insert(0, str(HERE))
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import numba
    import scanpy as sc

    import_s = time.perf_counter() - t0
    from _data import load_adata
    from _speed_cases import CASES

    if not job.get("default_settings"):  # else scanpy's default n_jobs, as a user has it
        sc.settings.n_jobs = job["threads"]
    sc.settings.verbosity = 0
    impl = _impl(job["impl"], sc)
    out: dict[str, Any] = {
        "impl": job["impl"],
        "versions": {d: version(d) for d in ("scanpy", "numba", "numpy", "scipy", job["impl"])},
        "kernels": _has_kernels(),
        "numba_threads": numba.get_num_threads(),
        "import_s": import_s,
        "cases": {},
    }
    loaded: dict[bool, Any] = {}
    for name in job["cases"]:
        case = CASES[name]
        if case.log1p not in loaded:
            loaded.clear()  # one matrix in memory at a time
            t1 = time.perf_counter()
            loaded[case.log1p] = load_adata(job["data"], log1p=case.log1p, fmt=job["fmt"])
            out["load_s"] = time.perf_counter() - t1
        adata = loaded[case.log1p]
        out["shape"], out["nnz"] = list(adata.shape), int(adata.X.nnz)
        call = impl(name, adata) if case.applies(adata) else None
        if call is None:
            why = "no such call" if case.applies(adata) else "dataset lacks the labels"
            out["cases"][name] = {"skipped": why}
            continue
        try:
            if job["warmup"] != "none":
                small = adata if job["warmup"] == "full" else _subset(adata)
                warm = impl(name, small)
                first = timed(warm)
                del small, warm
            else:
                first = None
            res = measure(call, job["repeats"], job["min_time"])
        except Exception as err:  # report and go on with the next case
            out["cases"][name] = {"error": f"{type(err).__name__}: {err}"[:300]}
            continue
        res["warmup_s"] = first
        out["cases"][name] = res
    emit(out)


def _has_kernels() -> bool:
    import importlib.util

    return importlib.util.find_spec("scanpy._kernels") is not None


if __name__ == "__main__":
    main()
