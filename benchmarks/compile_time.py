"""First-call compile time of a typical parallel kernel: cold (empty cache) and cached.

    python benchmarks/compile_time.py [--repeat 3]

Each measurement is a fresh process with its own NUMBA_CACHE_DIR; prints medians.
The kernel is ``_compile_kernel.csr_col_sums`` (beside this script).
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


def measure(cache_dir: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": cache_dir}
    res = subprocess.run(
        [sys.executable, "-c", PROBE.format(here=str(HERE), root=str(ROOT))],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
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
