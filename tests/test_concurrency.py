"""Every family's drivers under concurrency: never an abort, always the main thread's bits.

Each case runs in its own subprocess (an abort fails one test, not the run), with
``NUMBA_NUM_THREADS=2``. The reference is the main thread's call, which runs the
parallel builds on 2 threads; the concurrent calls (Python threads, dask's threaded
scheduler, a ``distributed`` cluster of worker processes) run where kernels go serial
(off the main thread), so equal results are also "1 vs N threads stays bitwise".
Python threads under numba's ``workqueue`` layer would abort the process (SIGABRT) if
two of them entered a parallel region at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

#: every family's drivers on one matrix (CSR with unsorted rows and duplicates, as
#: ``as_matrix`` repairs on a copy, CSC and dense); returns a list of arrays
WORK = textwrap.dedent(
    """
    import numpy as np, scipy.sparse as sp
    from scanpy_kernels import (aggregate, as_matrix, counts, filtering, hvg, metrics,
                                normalize, qc, rank_genes_groups as rgg, regress, scale)

    def matrices(seed):
        rng = np.random.default_rng(seed)
        x = sp.random(1500, 300, density=0.15, format="csr", random_state=seed,
                      data_rvs=lambda n: rng.poisson(3, n) + 1.0, dtype=np.float32)
        x.data[::97] = np.nan if seed % 2 else x.data[::97]  # NaN: wilcoxon's own order
        mixed = sp.csr_matrix((x.data[::-1].copy(), x.indices[::-1].copy(), x.indptr),
                              shape=x.shape)  # reversed rows' order: unsorted
        counts_ = sp.csr_matrix(np.floor(np.abs(np.nan_to_num(x.toarray()))))
        return x, mixed, x.tocsc(), x.toarray(), counts_

    def work(seed):
        x, mixed, csc, dense, cnt = matrices(seed)
        codes = (np.arange(x.shape[0]) % 3).astype(np.int64)
        out = []
        for raw in (x, mixed, csc, dense):
            m = as_matrix(raw, duplicates="sum")
            out += hvg.mean_var(m, codes, 3)[:2]
            out += rgg.group_mean_var(m, codes, 3)
            out += [*aggregate.sums(m, codes, 3), aggregate.medians(m, codes, 3)]
            for ref in (-1, 1):
                out += rgg.ranksums(m, codes, 3, ref)
            if m.fmt != "csc":
                out += qc.obs_sums(m, [np.arange(m.shape[1]) % 7 == 0], [5, 50])
                out += qc.var_sums(m)
        for raw in (x, mixed):  # as stored: unsorted, duplicates
            m = as_matrix(raw, stored=True)
            for target in (None, 1e4):
                r = normalize.normalize_total(
                    m, target_sum=target, exclude_highly_expressed=target is None
                )
                out += [a for a in r if a is not None]
        for raw in (x, dense):  # scaled in place (CSR: zero_center=False)
            for zero_center in (True, False):
                m = as_matrix(raw.copy(), stored=True)
                r = scale.scale(m, zero_center=zero_center, max_value=3.0)
                out += [a for a in r if a is not None]
        out.append(regress.regress_out_categorical(np.log1p(np.nan_to_num(dense)), codes, 3))
        r = np.c_[np.ones(x.shape[0]), codes, np.sqrt(np.arange(x.shape[0]))]
        for raw in (x, dense):  # continuous keys (an array: in place)
            out.append(regress.regress_out_continuous(as_matrix(raw.copy(), stored=True), r))
        for raw in (x, mixed, csc):
            m = as_matrix(raw, stored=True)
            out += [filtering.n_positive(m, axis=axis) for axis in (0, 1)]
        g = sp.random(x.shape[0], x.shape[0], density=0.01, format="csr", random_state=seed)
        g = as_matrix(g + g.T, stored=True)
        for vals in (np.nan_to_num(dense).T, sp.csr_matrix(np.nan_to_num(dense).T)):
            v = as_matrix(vals.astype(np.float64), stored=True, strided=True)
            out += [metrics.morans_i(v, g), metrics.gearys_c(v, g)]
        c = as_matrix(cnt)
        out += hvg.welford_mean_var(c, codes, 3)
        out += hvg.clipped_sums(c, codes, np.full((3, c.shape[1]), 4.0))
        out.append(hvg.pearson_residual_variances(c, codes, 3, clip=10.0, theta=100.0))
        out.append(np.array([counts.nonnegative_integers(c.data)]))
        return out

    def same(a, b):
        return len(a) == len(b) and all(
            np.array_equal(u, v, equal_nan=True) for u, v in zip(a, b))

    SEEDS = range(2)  # without and with NaN
    """
)


def _run(body: str, **env: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", WORK + textwrap.dedent(body)],
        env={**os.environ, "NUMBA_NUM_THREADS": "2", **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if "No threading layer could be loaded" in proc.stderr:
        pytest.skip(f"threading layer {env.get('NUMBA_THREADING_LAYER')} not available")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip()


@pytest.mark.parametrize("layer", ["workqueue", "omp"])
def test_python_threads(layer):
    out = _run(
        """
        from concurrent.futures import ThreadPoolExecutor
        want = [work(s) for s in SEEDS]  # main thread: the 2-thread parallel builds
        with ThreadPoolExecutor(4) as pool:
            got = list(pool.map(work, [s for s in SEEDS for _ in range(3)]))
        print(all(same(g, want[i // 3]) for i, g in enumerate(got)))
        """,
        NUMBA_THREADING_LAYER=layer,
    )
    assert out == "True"


def test_dask_threaded_scheduler():
    pytest.importorskip("dask")
    out = _run(
        """
        import dask
        want = [work(s) for s in SEEDS]
        got = dask.compute(*[dask.delayed(work)(s) for s in SEEDS], scheduler="threads")
        print(all(same(g, w) for g, w in zip(got, want)))
        """,
        NUMBA_THREADING_LAYER="workqueue",
    )
    assert out == "True"


def test_distributed_local_cluster_of_processes():
    pytest.importorskip("distributed")
    out = _run(
        """
        if __name__ == "__main__":  # the cluster's worker processes may import __main__
            from distributed import Client, LocalCluster
            want = [work(s) for s in SEEDS]
            with LocalCluster(
                n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
            ) as cluster, Client(cluster) as client:
                # `work` (defined in __main__) travels by value, the kernels by reference
                got = client.gather(client.map(work, list(SEEDS), pure=False))
            print(all(same(g, w) for g, w in zip(got, want)))
        """,
        NUMBA_THREADING_LAYER="workqueue",
    )
    assert out == "True"
