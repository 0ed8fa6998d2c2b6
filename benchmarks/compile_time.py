"""First-call compile time: cold (empty cache) and cached, of a kernel or an HVG flavor.

    python benchmarks/compile_time.py [--repeat 3]
    python benchmarks/compile_time.py --hvg [--repeat 3] [--flavors seurat pearson]

Each measurement is a fresh process with its own NUMBA_CACHE_DIR; prints medians.
Without ``--hvg`` the kernel is ``_compile_kernel.csr_col_sums`` (beside this
script).  With ``--hvg``, each flavor's first call through the hvg drivers, as the
fork's frontends call them on float32 CSR (int32 indices) input, after numba's
one-time set-up (a jitted parallel function): the kernels one flavor's call compiles
(or loads from the cache), per kernel in the output.
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

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PROBE = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    sys.path[:0] = [{here!r}, {root!r}]
    import _compile_kernel as g
    import numba
    t1 = time.perf_counter()
    numba.njit(lambda: 0)()  # numba's one-time target set-up, paid by any jitted call
    t2 = time.perf_counter()
    data, indices, indptr, n = g._csr(np.random.default_rng(0))
    t3 = time.perf_counter()
    g.csr_col_sums(data, indices, indptr, n)
    t4 = time.perf_counter()
    print(json.dumps(dict(import_s=t1 - t0, numba_setup_s=t2 - t1, first_call_s=t4 - t3)))
    """
)


#: one HVG flavor's driver calls, as the fork's frontends make them (float32 CSR)
HVG_PROBE = textwrap.dedent(
    """
    import json, sys, time
    sys.path[:0] = [{root!r}]
    import numba
    import numpy as np
    import scipy.sparse as sp
    import scanpy_kernels as K
    from scanpy_kernels import hvg
    from scanpy_kernels.counts import nonnegative_integers
    from scanpy_kernels.toolkit import Kernel

    @numba.njit(parallel=True)
    def _setup(n):  # numba's one-time set-up (parallel target), paid by any numba
        s = 0.0
        for i in numba.prange(n):
            s += i
        return s

    _setup(4)
    calls = []
    plain = Kernel.__call__
    def timed(self, *args, **kwargs):
        t = time.perf_counter()
        try:
            return plain(self, *args, **kwargs)
        finally:
            calls.append((self.__name__, time.perf_counter() - t))
    Kernel.__call__ = timed
    flavor = {flavor!r}
    rng = np.random.default_rng(0)
    x = sp.random(2000, 1000, density=0.07, format="csr", dtype=np.float32, rng=rng)
    x.data[:] = rng.poisson(2.0, x.nnz) + 1
    if flavor in ("seurat", "cell_ranger"):
        x.data = np.log1p(x.data)
    one = np.zeros(x.shape[0], np.int64)
    t0 = time.perf_counter()
    if flavor != "seurat" and flavor != "cell_ranger":
        nonnegative_integers(x.data)  # check_values
    m = K.as_matrix(x)
    if flavor in ("seurat", "cell_ranger"):
        scale = 1.0 if flavor == "seurat" else None
        mean, var, _ = (a[0] for a in hvg.mean_var(m, one, 1, log_scale=scale))
        if flavor == "seurat":
            hvg.dispersions_seurat(mean, var, 20, reduceat_means=True)
        else:
            hvg.dispersions_cell_ranger(mean, var)
    elif flavor == "pearson":
        hvg.pearson_residual_variances(m, one, 1, clip=np.sqrt(2000), theta=100.0)
        hvg.mean_var(m, one, 1)
    else:  # seurat_v3, seurat_v3_paper: moments, then the clipped sums
        mean, var, _ = (a[0] for a in hvg.mean_var(m, one, 1))
        clip = np.sqrt(var) * np.sqrt(x.shape[0]) + mean
        hvg.clipped_sums(m, one, clip[np.newaxis])
    t1 = time.perf_counter()
    print(json.dumps(dict(first_call_s=t1 - t0, kernels=calls)))
    """
)
HVG_FLAVORS = ("seurat", "cell_ranger", "seurat_v3", "seurat_v3_paper", "pearson")


def measure(cache_dir: str, probe: str = PROBE, **fields: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    res = subprocess.run(
        [sys.executable, "-c", probe.format(here=str(HERE), root=str(ROOT), **fields)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def hvg_flavors(flavors: list[str], repeat: int) -> None:
    """Print each flavor's cold and cached first call (medians), kernels by cost."""
    print(f"HVG flavors through the drivers, float32 CSR, first call, median of {repeat}:")
    for flavor in flavors:
        cold, warm, kernels = [], [], {}
        for _ in range(repeat):
            with tempfile.TemporaryDirectory() as d:
                c = measure(d, HVG_PROBE, flavor=flavor)
                cold.append(c["first_call_s"])
                warm.append(measure(d, HVG_PROBE, flavor=flavor)["first_call_s"])
                for name, sec in c["kernels"]:
                    kernels.setdefault(name, []).append(sec)
        per = ", ".join(
            f"{k} {statistics.median(v):.2f}"
            for k, v in sorted(kernels.items(), key=lambda kv: -statistics.median(kv[1]))
        )
        print(
            f"  {flavor:16s} cold {statistics.median(cold):6.2f} s   "
            f"cached {statistics.median(warm):6.3f} s   (cold per kernel: {per})"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--hvg", action="store_true", help="HVG flavors through the drivers")
    ap.add_argument("--flavors", nargs="+", default=list(HVG_FLAVORS))
    args = ap.parse_args()
    if args.hvg:
        hvg_flavors(args.flavors, args.repeat)
        return
    cold, warm, setup = [], [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as d:
            cold.append(measure(d)["first_call_s"])
            w = measure(d)
            warm.append(w["first_call_s"])
            setup.append(w["numba_setup_s"])
    print(f"csr_col_sums (prange + thread partials), first call, median of {args.repeat}:")
    print(
        f"  cold cache: {statistics.median(cold):.3f} s   cached: {statistics.median(warm) * 1e3:.1f} ms"
    )
    print(
        f"  (numba's one-time set-up in a fresh process, before any kernel: {statistics.median(setup):.3f} s)"
    )


if __name__ == "__main__":
    main()
