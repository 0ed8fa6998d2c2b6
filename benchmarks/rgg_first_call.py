"""First-call seconds of each rank_genes_groups method, cold and warm cache (not a test).

    python benchmarks/rgg_first_call.py [--repeat 3] [--formats csr,dense]
    python benchmarks/rgg_first_call.py --scanpy /path/to/venv/bin/python [--label fork]

Default: the drivers of this checkout, called as the patched frontend calls them
(``check_nonnegative_integers``'s kernel, ``as_matrix``, then per method
``group_means`` + ``rest_mean_pts`` + ``ranksums`` (wilcoxon), ``group_means`` +
``ranksums(ref=0)`` (wilcoxon with a reference), ``group_mean_var`` + ``rest_mean_pts`` +
``rest_var`` (both t-tests: the same kernels)).  ``--scanpy PY``: ``sc.tl.rank_genes_groups``
end to end in that interpreter's environment (e.g. a pristine scanpy 1.12.4 venv, or a
fork), same data.

Each measurement is a fresh process: *cold* with an empty ``NUMBA_CACHE_DIR``, *warm* the
same directory in the next process; *steady* is the second call in the cold process.
numba's one-time set-up (paid by any jitted call) is done before the timed call.  Data:
2,000 x 1,000 log1p negative-binomial counts at ~20% density, 8 groups, float32 (CSR
with int32 indices, or C-contiguous dense), 2 threads.  Prints medians over ``--repeat``
rounds; the methods of a round run one after the other, so on a shared machine compare
only numbers from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: method label -> (scanpy method, reference)
METHODS = {
    "wilcoxon": ("wilcoxon", None),
    "wilcoxon reference=<group>": ("wilcoxon", "0"),
    "t-test": ("t-test", None),
    "t-test_overestim_var": ("t-test_overestim_var", None),
}

_DATA = """
import numpy as np
from scipy import sparse
rng = np.random.default_rng(0)
n, m = 2000, 1000
c = rng.negative_binomial(2, 0.3, (n, m)).astype(np.float32)
c[rng.random((n, m)) < 0.8] = 0
x = np.log1p(c)
if fmt == "csr":
    x = sparse.csr_matrix(x)
codes = rng.integers(0, 8, n).astype(np.int64)
"""

DRIVERS = (
    textwrap.dedent(
        """
    import json, sys, time
    sys.path.insert(0, {root!r})
    method, ref, fmt = {method!r}, {ref!r}, {fmt!r}
    import numba
    numba.njit(lambda: 0)()  # numba's one-time set-up, paid by any jitted call
    from scanpy_kernels import as_matrix, counts
    from scanpy_kernels import rank_genes_groups as rgg
    from scanpy_kernels.toolkit import thread_limit
    """
    )
    + _DATA
    + textwrap.dedent(
        """
    k = 8
    r = -1 if ref is None else int(ref)
    sizes = np.bincount(codes, minlength=k + 1).astype(np.int64)

    def call():
        data = x.data if fmt == "csr" else x
        counts.nonnegative_integers(np.asarray(data).ravel(order="K"))
        kx = as_matrix(x, convert=True, duplicates="sum")
        if method == "wilcoxon":
            mean, nnz = rgg.group_means(kx, codes, k)
            if r < 0:
                rgg.rest_mean_pts(sizes, mean, nnz)
            rgg.ranksums(kx, codes, k, r)
        else:
            mean, var, nnz = rgg.group_mean_var(kx, codes, k)
            if r < 0:
                rgg.rest_mean_pts(sizes, mean, nnz)
                rgg.rest_var(sizes, mean, var)

    with thread_limit(2):
        t = time.perf_counter(); call(); first = time.perf_counter() - t
        t = time.perf_counter(); call(); steady = time.perf_counter() - t
    print(json.dumps(dict(first=first, steady=steady)))
    """
    )
)

SCANPY = (
    textwrap.dedent(
        """
    import json, time, warnings
    method, ref, fmt = {method!r}, {ref!r}, {fmt!r}
    warnings.filterwarnings("ignore")
    import anndata as ad, numba, pandas as pd, scanpy as sc
    numba.njit(lambda: 0)()
    sc.settings.verbosity = 0
    sc.settings.n_jobs = 2
    """
    )
    + _DATA
    + textwrap.dedent(
        """
    obs = pd.DataFrame(
        {{"g": pd.Categorical(codes.astype(str))}}, index=[str(i) for i in range(n)]
    )
    kw = dict(method=method) if ref is None else dict(method=method, reference=ref)

    def call():
        sc.tl.rank_genes_groups(ad.AnnData(x.copy(), obs=obs), "g", **kw)

    t = time.perf_counter(); call(); first = time.perf_counter() - t
    t = time.perf_counter(); call(); steady = time.perf_counter() - t
    print(json.dumps(dict(first=first, steady=steady)))
    """
    )
)


def measure(python: str, code: str, cache_dir: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir, "NUMBA_NUM_THREADS": "2"}
    res = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="csr,dense")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated labels")
    ap.add_argument("--scanpy", metavar="PY", help="time sc.tl.rank_genes_groups in PY's env")
    ap.add_argument("--label", default=None)
    args = ap.parse_args()
    python = args.scanpy or sys.executable
    template = SCANPY if args.scanpy else DRIVERS
    label = args.label or ("scanpy at " + args.scanpy if args.scanpy else "drivers of " + str(ROOT))
    cases = [(name, fmt) for fmt in args.formats.split(",") for name in args.methods.split(",")]
    results: dict[tuple[str, str], dict[str, list[float]]] = {
        c: {"cold": [], "warm": [], "steady": []} for c in cases
    }
    for _ in range(args.repeat):
        for name, fmt in cases:
            method, ref = METHODS[name]
            code = template.format(root=str(ROOT), method=method, ref=ref, fmt=fmt)
            with tempfile.TemporaryDirectory() as cache:
                cold = measure(python, code, cache)
                warm = measure(python, code, cache)
            res = results[name, fmt]
            res["cold"].append(cold["first"])
            res["steady"].append(cold["steady"])
            res["warm"].append(warm["first"])
    print(f"{label}: first call, s, median of {args.repeat} (load {os.getloadavg()[0]:.1f})")
    print(f"  {'method':28s} {'format':6s} {'cold':>7s} {'warm':>7s} {'steady':>7s}")
    for (name, fmt), res in results.items():
        med = {k: statistics.median(v) for k, v in res.items()}
        print(f"  {name:28s} {fmt:6s} {med['cold']:7.2f} {med['warm']:7.2f} {med['steady']:7.3f}")


if __name__ == "__main__":
    main()
