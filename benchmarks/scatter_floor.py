"""What a per-gene sum over a CSR matrix costs outside numba: the scatter in C.

    python benchmarks/scatter_floor.py [--data M] [--threads 2] [--rounds 3]

Run it with an interpreter that has numpy and scipy (and, for the kernel column,
``scanpy_kernels`` or a patched scanpy: any of ``build/envs/patched/bin/python``,
``.nox/tests/bin/python``).  It writes the log-normalised CSR matrix of ``--data``
(``_data.py``) to a temporary directory, compiles ``c/scatter_floor.c`` with
``gcc -O3 -march=native -fopenmp`` and runs it on ``--threads`` OpenMP threads, then
times ``hvg.mean_var_csr`` (the kernel of cell_ranger's moments: the same partition
and record, bitwise fast-array-utils') on as many numba threads, alternating the two
``--rounds`` times.  Prints the medians: one streaming pass over ``data`` + ``indices``
in C (the memory-bandwidth floor), the scatter in C, the kernel, and their ratios.

No test runs this; speed is reported, not asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "c" / "scatter_floor.c"
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))


def _run_c(exe: Path, files: list[Path], n_cols: int, threads: int) -> tuple[float, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_PROC_BIND": "false"}
    out = subprocess.run(
        [str(exe), *map(str, files), str(n_cols)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return float(out[0]), float(out[1])


def _kernel_ms(threads: int, x, repeats: int = 9) -> float | None:
    try:
        from scanpy._kernels import hvg, toolkit
    except ImportError:
        try:
            from scanpy_kernels import hvg, toolkit
        except ImportError:
            return None
    codes = np.zeros(x.shape[0], np.int64)
    args = (x.data, x.indices, x.indptr, *x.shape, codes, 1, threads, 1, False)
    times = []
    with toolkit.thread_limit(threads):
        hvg.mean_var_csr(*args)
        for _ in range(repeats):
            t0 = time.perf_counter()
            hvg.mean_var_csr(*args)
            times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="M")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    gcc = shutil.which("gcc")
    if gcc is None:
        sys.exit("scatter_floor: needs gcc (with OpenMP)")
    import numba
    from _data import matrix

    numba.set_num_threads(args.threads)
    x = matrix(args.data, log1p=True, fmt="csr")
    x.indptr = x.indptr.astype(x.indices.dtype)  # as the frontend passes it
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        exe = d / "scatter_floor"
        subprocess.run(
            [gcc, "-O3", "-march=native", "-fopenmp", str(SOURCE), "-o", str(exe)], check=True
        )
        files = [d / "data.bin", d / "indices.bin", d / "indptr.bin"]
        x.data.astype(np.float32).tofile(files[0])
        x.indices.astype(np.int32).tofile(files[1])
        x.indptr.astype(np.int64).tofile(files[2])
        stream, scatter, kernel = [], [], []
        for _ in range(args.rounds):
            s, c = _run_c(exe, files, x.shape[1], args.threads)
            stream.append(s)
            scatter.append(c)
            if (k := _kernel_ms(args.threads, x)) is not None:
                kernel.append(k)
    s, c = statistics.median(stream), statistics.median(scatter)
    print(
        f"{args.data}: {x.shape[0]:,} x {x.shape[1]:,}, nnz {x.nnz:,}, {args.threads} threads, "
        f"median of {args.rounds} rounds (each a median of 9 passes)"
    )
    print(f"  C streaming pass (data + indices): {s:7.1f} ms")
    print(f"  C scatter (sum, sum of squares):   {c:7.1f} ms = {c / s:.1f}x a streaming pass")
    if kernel:
        k = statistics.median(kernel)
        print(
            f"  hvg.mean_var_csr (numba):          {k:7.1f} ms = {k / s:.1f}x a streaming pass, "
            f"{k / c:.2f}x the C scatter"
        )
    else:
        print("  hvg.mean_var_csr: no kernel package importable here")


if __name__ == "__main__":
    main()
