"""Timings of the rank_genes_groups kernels against pristine scanpy 1.12.4 (not a test).

    python benchmarks/kernels_rgg.py [--data M] [--threads 2] [--repeat 3]
    python benchmarks/kernels_rgg.py --compile      # first-call compile time, cold and cached

``--data``: a spec of ``benchmarks/_data.py`` (``M`` = 50,000 x 20,000 log-normalised
CSR float32, ~7% density, 8 groups).  Everything is warm (compiled first) and runs with
``--threads`` threads (``sc.settings.n_jobs`` for scanpy, ``thread_limit`` for the
kernels).  Pristine runs once per method (it is slow); kernels best of ``--repeat``.
The kernel results are compared with pristine's on the same data (max relative diff).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def best(f, repeat: int):
    ts, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return min(ts), out


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.abs(a - b) / np.maximum(np.abs(b), np.finfo(np.float64).tiny)
    d[both_nan | (a == b)] = 0.0
    return float(np.nanmax(d)) if d.size else 0.0


def compare(adata, key, got, groups):
    """Max rel diff of kernel fields vs ``adata.uns[key]`` (pristine, sorted by score)."""
    res = adata.uns[key]
    pos = {name: j for j, name in enumerate(adata.var_names)}
    out = {}
    for field in ("scores", "pvals", "logfoldchanges", "pvals_adj"):
        if field not in res or field not in got:
            continue
        worst, exact = 0.0, True
        for g, name in enumerate(groups):
            idx = np.array([pos[n] for n in res["names"][name]])
            want = np.asarray(res[field][name], np.float64)
            have = np.asarray(got[field][g], np.float64)[idx]
            worst = max(worst, _rel(have, want))
            exact &= bool(np.array_equal(have, want, equal_nan=True))
        out[field] = f"max rel {worst:.2e}{' (bitwise equal)' if exact else ''}"
    return out


def run_kernels(x, codes, n_groups, *, ref=-1, method="wilcoxon"):
    """Everything ``_RankGenes`` computes for CSR ``x``, from the kernels (+ scipy's p-values).

    The array-level glue a frontend needs, CSR only (``method``: ``wilcoxon`` or
    ``t-test``): per-group arrays ``(n_groups, n_genes)``.  ``codes``: per cell, index
    into the selected groups or -1; ``ref``: the reference group's index or -1 (rest).
    tests/test_rgg_kernels.py checks the same glue, for every format, against scanpy.
    """
    from scipy import stats

    from scanpy_kernels import as_matrix
    from scanpy_kernels.rank_genes_groups import (
        group_mean_var,
        group_means,
        ranksums,
        rest_mean_pts,
        rest_var,
        wilcoxon_zscores,
    )

    m = as_matrix(x)
    slots = np.where(codes < 0, n_groups, codes)
    sizes = np.bincount(slots, minlength=n_groups + 1).astype(np.int64)
    out = {}
    if method == "wilcoxon":
        mean, nnz = group_means(m, codes, n_groups)
        var = None
    else:
        mean, var, nnz = group_mean_var(m, codes, n_groups)
    out["means"] = mean[:n_groups]
    out["pts"] = nnz[:n_groups] / sizes[:n_groups, None]
    if ref < 0:
        out["means_rest"], out["pts_rest"] = rest_mean_pts(sizes, mean, nnz)
        out["vars_rest"] = None if var is None else rest_var(sizes, mean, var)
        mean_other = out["means_rest"]
    else:
        mean_other = np.broadcast_to(mean[ref], mean[:n_groups].shape)
    if method == "wilcoxon":
        rank_sums, tie_sums = ranksums(m, codes, n_groups, ref)
        z = wilcoxon_zscores(rank_sums, tie_sums, sizes, ref, tie_correct=False)
        out["scores"], out["pvals"] = z, 2 * stats.distributions.norm.sf(np.abs(z))
    else:
        if ref < 0:
            m2, v2, n2 = out["means_rest"], out["vars_rest"], (x.shape[0] - sizes[:n_groups])[:, None]
        else:
            m2, v2, n2 = mean[ref], var[ref], sizes[ref]
        with np.errstate(invalid="ignore"):
            scores, pvals = stats.ttest_ind_from_stats(
                mean1=mean[:n_groups], std1=np.sqrt(var[:n_groups]), nobs1=sizes[:n_groups, None],
                mean2=m2, std2=np.sqrt(v2), nobs2=n2, equal_var=False,
            )
        scores[np.isnan(scores)] = 0
        pvals[np.isnan(pvals)] = 1
        out["scores"], out["pvals"] = scores, pvals
    with np.errstate(invalid="ignore", divide="ignore"):
        out["logfoldchanges"] = np.log2(
            (np.expm1(mean[:n_groups]) + 1e-9) / (np.expm1(mean_other) + 1e-9)
        )
    return out


def run_timings(args) -> None:
    import _data
    import scanpy as sc

    from scanpy_kernels import as_matrix
    from scanpy_kernels._welford import welford_mean_var_csr
    from scanpy_kernels.aggregate import group_sums_csr
    from scanpy_kernels.rank_genes_groups import (
        group_mean_var,
        ranksums_csc,
        ranksums_csr,
        rest_mean_pts,
        rest_var,
    )
    from scanpy_kernels.toolkit import thread_limit

    sc.settings.n_jobs = args.threads
    sc.settings.verbosity = 0
    t = time.perf_counter()
    adata = _data.load_adata(args.data, log1p=True)
    x = adata.X
    print(f"data {args.data}: {x.shape}, nnz {x.nnz:,} ({x.nnz / np.prod(x.shape):.2%}), "
          f"{x.dtype}, indices {x.indices.dtype}, loaded in {time.perf_counter() - t:.1f}s")
    groups = list(adata.obs["group"].cat.categories)
    codes = adata.obs["group"].cat.codes.to_numpy().astype(np.int64)
    k = len(groups)
    sizes = np.bincount(codes, minlength=k + 1).astype(np.int64)
    print(f"groups: {dict(zip(groups, sizes[:k].tolist(), strict=True))}, threads {args.threads}, load {os.getloadavg()[0]:.1f}")

    # ---- kernels (warm-up compiles every kernel used below)
    small = x[:2000]
    with thread_limit(args.threads):
        for method in ("wilcoxon", "t-test"):
            run_kernels(small, codes[:2000], k, method=method)
        run_kernels(small, codes[:2000], k, ref=0)
        xc = _data.matrix(args.data, log1p=True, fmt="csc") if args.csc else None
        if xc is not None:
            xs = xc[:, :50]
            ranksums_csc(xs.data, xs.indices, xs.indptr, *xs.shape, codes, k, -1)

        d, i, p = x.data, x.indices, x.indptr
        n, m = x.shape
        rows = {}
        # every cell is in a group: group k (the remainder) stays empty, as in the drivers
        rows["group_sums_csr (means, pts)"] = best(lambda: group_sums_csr(d, i, p, n, m, codes, k + 1), args.repeat)
        rows["welford_mean_var_csr (t-test stats)"] = best(
            lambda: welford_mean_var_csr(d, i, p, n, m, codes, k + 1, True), args.repeat)
        mean, var, nnz = group_mean_var(as_matrix(x), codes, k)  # var with dof=1
        rows["rest_mean_pts"] = best(lambda: rest_mean_pts(sizes, mean, nnz), args.repeat)
        rows["rest_var"] = best(lambda: rest_var(sizes, mean, var), args.repeat)
        rows["ranksums_csr vs rest"], _ = best(lambda: ranksums_csr(d, i, p, n, m, codes, k, -1), args.repeat)
        rows["ranksums_csr vs reference"] = best(lambda: ranksums_csr(d, i, p, n, m, codes, k, 0), args.repeat)
        if xc is not None:
            rows["ranksums_csc vs rest (CSC input)"] = best(
                lambda: ranksums_csc(xc.data, xc.indices, xc.indptr, *xc.shape, codes, k, -1), args.repeat)
        rows["glue wilcoxon (kernels + scipy pvals + lfc)"], got_w = best(
            lambda: run_kernels(x, codes, k, method="wilcoxon"), args.repeat)
        rows["glue wilcoxon vs reference"], got_wr = best(
            lambda: run_kernels(x, codes, k, ref=0, method="wilcoxon"), args.repeat)
        rows["glue t-test"], got_t = best(lambda: run_kernels(x, codes, k, method="t-test"), args.repeat)
    print("\nkernels (warm, best of", args.repeat, ")")
    for name, val in rows.items():
        sec = val[0] if isinstance(val, tuple) else val
        print(f"  {name:45s} {sec * 1e3:9.1f} ms")
    if args.skip_pristine:
        return

    # ---- pristine (warm-up on a slice compiles its numba code)
    from scanpy.tools._rank_genes_groups import _RankGenes

    print("\npristine scanpy", sc.__version__)
    sc.tl.rank_genes_groups(adata[:2000].copy(), "group", method="wilcoxon")
    sc.tl.rank_genes_groups(adata[:2000].copy(), "group", method="t-test")
    timings = {}
    mask = np.zeros(x.shape[1], bool)
    mask[: args.check_genes] = True
    for label, kw, got in [
        ("wilcoxon vs rest", dict(method="wilcoxon"), got_w),
        ("t-test vs rest", dict(method="t-test"), got_t),
        ("wilcoxon vs reference", dict(method="wilcoxon", reference=groups[0]), got_wr),
    ]:
        if label == "wilcoxon vs reference" and not args.reference:
            continue
        ad = adata.copy()
        t = time.perf_counter()
        sc.tl.rank_genes_groups(ad, "group", **kw)
        timings[label] = time.perf_counter() - t
        grp = [g for g in groups if kw.get("reference") != g]
        idx = [groups.index(g) for g in grp]
        fields = ("scores", "pvals", "logfoldchanges")
        sub = {f: np.asarray(v)[idx] for f, v in got.items() if f in fields}
        # uns stores scores / logfoldchanges as float32: compare at that precision
        sub32 = {f: (v.astype(np.float32) if f != "pvals" else v) for f, v in sub.items()}
        print(f"  {label:24s} {timings[label]:8.2f} s   vs uns: {compare(ad, 'rank_genes_groups', sub32, grp)}")
        # float64 comparison: pristine's own statistics on the first genes (mask_var)
        rg = _RankGenes(adata.copy(), "all", "group", reference=kw.get("reference", "rest"),
                        use_raw=False, mask_var=mask)
        rg.compute_statistics(kw["method"])
        res = {}
        for f in fields:
            want = np.stack([rg.stats[g, f].to_numpy() for g in grp])
            res[f] = f"max rel {_rel(sub[f][:, mask], want):.2e}" + (
                " (bitwise equal)" if np.array_equal(sub[f][:, mask], want, equal_nan=True) else "")
        print(f"  {'':24s} float64, first {args.check_genes} genes: {res}")
    print("\nspeed-up (pristine end to end / kernel glue):")
    for label, glue in [("wilcoxon vs rest", "glue wilcoxon (kernels + scipy pvals + lfc)"),
                        ("t-test vs rest", "glue t-test"),
                        ("wilcoxon vs reference", "glue wilcoxon vs reference")]:
        if label in timings:
            g = rows[glue][0] if isinstance(rows[glue], tuple) else rows[glue]
            print(f"  {label:24s} {timings[label] / g:8.1f}x")


PROBE = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    import numpy as np
    sys.path.insert(0, {root!r})
    from scipy import sparse
    import numba
    numba.njit(lambda: 0)()  # numba's one-time set-up, paid by any jitted call
    from scanpy_kernels._welford import welford_mean_var_csr
    from scanpy_kernels.aggregate import group_sums_csr
    from scanpy_kernels.rank_genes_groups import ranksums_csr, rest_mean_pts, rest_var
    from scanpy_kernels.toolkit import thread_limit
    rng = np.random.default_rng(0)
    x = sparse.random(300, 60, density=0.2, format="csr", dtype=np.float32, random_state=0)
    codes = rng.integers(0, 4, 300).astype(np.int64)
    sizes = np.bincount(codes, minlength=5).astype(np.int64)
    out = {{}}
    cpu = {{}}
    def timed(name, f):
        t, c = time.perf_counter(), time.process_time()
        r = f()
        out[name] = time.perf_counter() - t
        cpu[name] = time.process_time() - c
        return r
    with thread_limit({threads}):
        args = (x.data, x.indices, x.indptr, 300, 60, codes)
        timed("group_sums_csr", lambda: group_sums_csr(*args, 5))
        m, v, n = timed("welford_mean_var_csr", lambda: welford_mean_var_csr(*args, 5, True))
        timed("rest_mean_pts", lambda: rest_mean_pts(sizes, m, n))
        timed("rest_var", lambda: rest_var(sizes, m, v))
        timed("ranksums_csr", lambda: ranksums_csr(*args, 4, -1))
    out["total"] = sum(out.values())
    cpu["total"] = sum(cpu.values())
    print(json.dumps(dict(wall=out, cpu=cpu)))
    """
)


def run_compile(args) -> None:
    """First call of every kernel the CSR float32 path uses: empty cache, then cached."""
    code = PROBE.format(root=str(ROOT), threads=args.threads)
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("cold (empty cache)", "cached"):
            r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
            res = json.loads(r.stdout.strip().splitlines()[-1])
            print(f"{label} (load {os.getloadavg()[0]:.1f}):")
            for kind in ("wall", "cpu"):
                print(f"  {kind}: " + ", ".join(f"{k} {v:.2f}s" for k, v in res[kind].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="M")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="first-call compile time only")
    ap.add_argument("--skip-pristine", action="store_true")
    ap.add_argument("--reference", action="store_true", help="also time pristine wilcoxon vs a reference group")
    ap.add_argument("--csc", action="store_true", help="also time ranksums_csc on a CSC copy")
    ap.add_argument("--check-genes", type=int, default=1000, help="genes compared in float64")
    args = ap.parse_args()
    if args.compile:
        run_compile(args)
    else:
        run_timings(args)


if __name__ == "__main__":
    main()
