"""Timings of the HVG kernels against pristine scanpy 1.12.4 (not a test).

    python benchmarks/kernels_hvg.py [--cells 50000 --genes 20000 --density 0.07 --threads 2]
    python benchmarks/kernels_hvg.py --compile      # first-call compile time, cold and cached

Kernel timings are warm (compiled, best of ``--repeat``) with ``--threads`` numba threads;
pristine scanpy's ``_sum_and_sum_squares_clipped`` is serial by design.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import scipy.sparse as sp


def make_csr(n_cells: int, n_genes: int, density: float, seed: int = 0) -> sp.csr_matrix:
    """float32 count-like CSR with gene-dependent detection rates (sorted indices)."""
    rng = np.random.default_rng(seed)
    w = rng.gamma(0.5, 1.0, n_genes)
    cdf = np.cumsum(w / w.sum())
    per_row = rng.poisson(density * n_genes * 1.1, n_cells)  # ~10% collide below
    row = np.repeat(np.arange(n_cells, dtype=np.int64), per_row)
    col = np.minimum(np.searchsorted(cdf, rng.random(row.size)), n_genes - 1)
    key = np.unique(row * n_genes + col)  # sorted: rows, then columns; duplicates merged
    row, col = np.divmod(key, n_genes)
    indptr = np.zeros(n_cells + 1, np.int64)
    np.cumsum(np.bincount(row, minlength=n_cells), out=indptr[1:])
    data = rng.geometric(0.4, size=key.size).astype(np.float32)
    return sp.csr_matrix(
        (data, col.astype(np.int32), indptr.astype(np.int32)), shape=(n_cells, n_genes)
    )


def pristine_pearson(x: sp.csr_matrix, *, clip: float, theta: float) -> np.ndarray:
    """scanpy 1.12.4's residual variance of one batch of CSR ``x`` (its code), zero-filled.

    What ``sc.experimental.pp.highly_variable_genes(flavor="pearson_residuals")`` computes
    per batch: its all-zero genes dropped, CSC float64, ``_calculate_res_sparse``.
    """
    from scanpy.experimental.pp._highly_variable_genes import _calculate_res_sparse

    nonzero_genes = np.ravel(x.sum(axis=0)) != 0
    xb = x[:, nonzero_genes].tocsc()
    xb.eliminate_zeros()
    sums_genes = np.array(xb.sum(axis=0)).ravel()
    sums_cells = np.array(xb.sum(axis=1)).ravel()
    res = _calculate_res_sparse(
        xb.astype(np.float64),
        sums_genes=sums_genes,
        sums_cells=sums_cells,
        sum_total=np.float64(np.sum(sums_genes)),
        clip=np.float64(clip),
        theta=np.float64(theta),
        n_genes=xb.shape[1],
        n_cells=xb.shape[0],
    )
    out = np.zeros(len(nonzero_genes))
    out[nonzero_genes] = res
    return out


def best(f, repeat: int) -> tuple[float, float]:
    """Best wall time and best CPU time (all threads) of ``repeat`` calls."""
    walls, cpus = [], []
    for _ in range(repeat):
        c, t = time.process_time(), time.perf_counter()
        f()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus)


def load_matrix(args) -> sp.csr_matrix:
    path = os.path.join(
        tempfile.gettempdir(), f"hvg_bench_{args.cells}x{args.genes}_{args.density}.npz"
    )
    if os.path.exists(path):
        return sp.load_npz(path).tocsr()
    x = make_csr(args.cells, args.genes, args.density)
    sp.save_npz(path, x, compressed=False)
    return x


def run_timings(args) -> None:
    import numba
    from fast_array_utils.stats import mean_var
    from scanpy.preprocessing._highly_variable_genes import _sum_and_sum_squares_clipped

    from scanpy_kernels import as_matrix, hvg
    from scanpy_kernels.toolkit import thread_limit

    t = time.perf_counter()
    x = load_matrix(args)
    print(
        f"matrix {x.shape} nnz={x.nnz:,} ({x.nnz / np.prod(x.shape):.3f}) loaded/built in {time.perf_counter() - t:.1f}s"
    )
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    n, m = x.shape
    codes = np.zeros(n, np.int64)
    mean, var = mean_var(x, axis=0, correction=1)
    clip = (np.sqrt(var) * np.sqrt(n) + mean)[None, :]  # a realistic clip (loess-free)

    def pair(name, pristine, kernel, check, threads):
        numba.set_num_threads(threads)  # pristine's parallel numba code (mean_var) uses these
        out_p = pristine()
        with thread_limit(threads):
            out_k = kernel()
            tk, ck = best(kernel, args.repeat)
        tp, cp = best(pristine, args.repeat)
        ok = check(out_p, out_k)
        print(
            f"{name:26s} t={threads}  pristine {tp * 1e3:7.0f} ms (cpu {cp * 1e3:6.0f})  "
            f"kernel {tk * 1e3:7.0f} ms (cpu {ck * 1e3:6.0f})  x{tp / tk:4.1f}  equal={ok}",
            flush=True,
        )

    def same(p, k):
        return np.array_equal(p[0], k[0][0]) and np.array_equal(p[1], k[1][0])

    for threads in sorted({1, args.threads}):
        pair(
            "clipped sums (seurat_v3)",
            lambda: _sum_and_sum_squares_clipped(
                x.indices, x.data, n_cols=m, clip_val=clip[0], nnz=x.nnz
            ),
            lambda: hvg.clipped_sums_csr(x.data, x.indices, x.indptr, n, m, codes, clip),
            same,
            threads,
        )
        pair(
            "mean_var",
            lambda: mean_var(x, axis=0, correction=1),
            lambda: hvg.mean_var_csr(
                x.data,
                x.indices,
                x.indptr,
                n,
                m,
                codes,
                1,
                numba.get_num_threads(),
                1,
                False,
            ),
            same,
            threads,
        )
        pair(
            "expm1 + mean_var (seurat)",
            lambda: mean_var(np.expm1(x), axis=0, correction=1),
            lambda: hvg.mean_var_csr(  # the frontend un-logs the stored values only
                np.expm1(x.data),
                x.indices,
                x.indptr,
                n,
                m,
                codes,
                1,
                numba.get_num_threads(),
                1,
                False,
            ),
            same,
            threads,
        )
    if args.pearson:

        def kernel_pearson():
            m_ = as_matrix(x)
            return hvg.pearson_residual_variances(
                m_, codes, 1, clip=np.sqrt(n), theta=100.0
            )

        def check(p, k):
            rel = np.abs(k[0] - p) / np.maximum(np.abs(p), 1e-300)
            print(f"    pearson max rel diff {np.nanmax(rel):.2e}")
            return bool(np.nanmax(rel) < 1e-12)

        repeat, args.repeat = args.repeat, 1
        pair(
            "pearson residual var",
            lambda: pristine_pearson(x, clip=np.sqrt(n), theta=100.0),
            kernel_pearson,
            check,
            args.threads,
        )
        args.repeat = repeat
    print(f"load average after: {os.getloadavg()[0]:.1f}")


_COMPILE_CHILD = r"""
import time, numpy as np, scipy.sparse as sp
t0 = time.perf_counter()
from scanpy_kernels import hvg
from scanpy_kernels.toolkit import thread_limit
x = sp.random(500, 300, density=0.1, format="csr", dtype=np.float32, random_state=0)
codes = np.zeros(500, np.int64)
t1 = time.perf_counter()
out = []
for n in (1, 2):
    with thread_limit(n):
        t = time.perf_counter(); hvg.clipped_sums_csr(x.data, x.indices, x.indptr, 500, 300, codes, np.ones((1, 300)))
        out.append(("clipped_sums_csr", n, time.perf_counter() - t))
        t = time.perf_counter(); hvg.mean_var_csr(x.data, x.indices, x.indptr, 500, 300, codes, 1, 2, 1, False)
        out.append(("mean_var_csr", n, time.perf_counter() - t))
for name, n, dt in out:
    print(f"{name:18s} threads={n} first call {dt:6.2f} s")
"""


def run_compile() -> None:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("cold (empty cache)", "cached"):
            print(f"-- {label}")
            subprocess.run([sys.executable, "-c", _COMPILE_CHILD], env=env, check=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cells", type=int, default=50_000)
    p.add_argument("--genes", type=int, default=20_000)
    p.add_argument("--density", type=float, default=0.07)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument(
        "--pearson", action="store_true", help="also time pearson residuals (slow pristine)"
    )
    p.add_argument("--compile", action="store_true", help="measure first-call compile time instead")
    args = p.parse_args()
    if args.compile:
        run_compile()
    else:
        run_timings(args)


if __name__ == "__main__":
    main()
