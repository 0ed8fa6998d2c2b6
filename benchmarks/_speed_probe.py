"""Memory-bandwidth floor and each one-pass kernel's distance from it (one process).

    PY benchmarks/_speed_probe.py '{"data": "S", "threads": 2, "repeats": 7}'

One streaming pass over the CSR arrays ``data`` + ``indices`` of the counts matrix in
numba (parallel block sums, fastmath so the loads vectorise) gives the seconds per
pass and GB/s.  One *scatter pass* gives the floor of a per-gene reduction of a CSR
matrix: every stored value added, with its square, into a float64 record of its
column (one record array per thread, each thread a contiguous share of the rows): the
least any CSR kernel that sums each gene does.  Then the one-pass kernels are called
through their public functions on the same arrays: ``scanpy._kernels`` (the patched
fork) if this interpreter has it, else the repository's ``scanpy_kernels``.  A kernel
whose parameters are not recognised is skipped with a note.
Prints ``RESULT {json}``.
"""

from __future__ import annotations

import importlib
import inspect
import json
import statistics
import sys
from typing import Any

import numba
import numpy as np
from _speed_proc import HERE, emit, timed

#: (module, function) of the one-pass kernels, and what ``codes`` means for them
KERNELS: list[tuple[str, str, str]] = [
    ("hvg", "mean_var_csr", "batch"),
    ("hvg", "clipped_sums_csr", "batch"),
    ("aggregate", "group_sums_csr", "group"),
    ("_welford", "welford_mean_var_csr", "group"),  # t-test stats (rgg skips stored zeros)
    ("rank_genes_groups", "ranksums_csr", "group"),  # not one pass: sorts each column
]


@numba.njit(parallel=True, fastmath=True, cache=False)
def _stream(data, indices):
    """Sum of ``data`` and of ``indices``: one read of both arrays."""
    s = 0.0
    t = 0
    for k in numba.prange(data.size):
        s += data[k]
        t += indices[k]
    return s, t


@numba.njit(parallel=True, cache=False)
def _scatter(data, indices, indptr, n_cols):
    """Per thread, sum and sum of squares of each column over its share of the rows."""
    n_tasks = numba.get_num_threads()
    n_rows = indptr.size - 1
    acc = np.zeros((n_tasks, 2 * n_cols))
    for t in numba.prange(n_tasks):
        rec = acc[t]
        for i in range(t * n_rows // n_tasks, (t + 1) * n_rows // n_tasks):
            for p in range(indptr[i], indptr[i + 1]):
                x = np.float64(data[p])
                q = 2 * indices[p]
                rec[q] += x
                rec[q + 1] += x * x
    return acc


def _kernels_pkg() -> tuple[str, Any]:
    try:
        return "scanpy._kernels", importlib.import_module("scanpy._kernels")
    except ImportError:
        sys.path.insert(0, str(HERE.parent))
        return "scanpy_kernels", importlib.import_module("scanpy_kernels")


def _args(fn: Any, x: Any, codes: np.ndarray, n_codes: int) -> list[Any] | None:
    py = getattr(fn, "py_func", fn)
    n_rows, n_cols = x.shape
    values = {
        "data": x.data, "indices": x.indices, "indptr": x.indptr,
        "n_cols": n_cols, "n_genes": n_cols, "n_rows": n_rows,
        "codes": codes, "n_batches": n_codes, "n_groups": n_codes,
        "n_slots": numba.get_num_threads(), "correction": 1, "ref": -1,
        "count_positive": False,  # True only for filter_unexpressed_genes
        "skip_zeros": True,  # rank_genes_groups' setting
        "clip": np.full((n_codes, n_cols), np.sqrt(n_rows)),
    }
    try:
        names = list(inspect.signature(py).parameters)
    except (TypeError, ValueError):
        return None
    if not all(n in values for n in names):
        return None
    return [values[n] for n in names]


def main() -> None:
    job = json.loads(sys.argv[1])
    sys.path.insert(0, str(HERE))
    from _data import load_dataset

    ds = load_dataset(job["data"])
    x = ds.counts
    reps = job["repeats"]
    nbytes = x.data.nbytes + x.indices.nbytes
    _stream(x.data, x.indices)
    passes = [timed(lambda: _stream(x.data, x.indices)) for _ in range(reps)]
    t_pass = statistics.median(passes)
    _scatter(x.data, x.indices, x.indptr, x.shape[1])
    scatters = [timed(lambda: _scatter(x.data, x.indices, x.indptr, x.shape[1])) for _ in range(reps)]
    t_scatter = statistics.median(scatters)
    out: dict[str, Any] = {
        "data": job["data"], "shape": list(x.shape), "nnz": int(x.nnz), "bytes": nbytes,
        "threads": numba.get_num_threads(), "pass_s": t_pass, "pass_best_s": min(passes), "gbps": nbytes / t_pass / 1e9,
        "scatter_s": t_scatter, "scatter_best_s": min(scatters),
        "kernels": [],
    }
    try:
        pkg_name, pkg = _kernels_pkg()
    except ImportError as err:
        out["note"] = f"no kernel package importable: {err}"
        emit(out)
        return
    out["package"] = pkg_name
    batch = np.zeros(x.shape[0], np.int64)
    group = ds.group.astype(np.int64) if ds.group is not None else batch
    for sub, name, kind in KERNELS:
        row: dict[str, Any] = {"kernel": f"{sub}.{name}"}
        out["kernels"].append(row)
        try:
            fn = getattr(importlib.import_module(f"{pkg_name}.{sub}"), name)
        except (ImportError, AttributeError):
            row["note"] = "not present"
            continue
        codes, n_codes = (group, int(group.max()) + 1) if kind == "group" else (batch, 1)
        args = _args(fn, x, codes, n_codes)
        if args is None:
            row["note"] = "parameters not recognised by the probe"
            continue
        try:
            # as many threads as the passes above: importing scanpy._kernels imports
            # scanpy, whose default `settings.n_jobs = 1` would otherwise apply
            with pkg.toolkit.thread_limit(numba.get_num_threads()):
                warm = timed(lambda fn=fn, args=args: fn(*args))
                ts = [timed(lambda fn=fn, args=args: fn(*args)) for _ in range(reps)]
        except Exception as err:
            row["note"] = f"{type(err).__name__}: {err}"[:200]
            continue
        t = statistics.median(ts)
        row.update(first_s=warm, s=t, best_s=min(ts), x_floor=t / t_pass, x_scatter=t / t_scatter)
    emit(out)


if __name__ == "__main__":
    main()
