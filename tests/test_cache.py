"""The salted cache: hits across processes, never shared between option sets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from scanpy_kernels.toolkit import kernel
from scanpy_kernels.toolkit._cache import KernelCache, toolkit_fingerprint

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    sys.path.insert(0, {root!r})
    from tests.kernels import good_kernels as g
    x = g._csr(np.random.default_rng(0))
    from scanpy_kernels.toolkit import thread_limit
    t0 = time.perf_counter()
    many = g.csr_col_sums(*x[:3], x[3])
    t1 = time.perf_counter()
    with thread_limit(1):  # the serial build, also from the cache in the 2nd process
        one = g.csr_col_sums(*x[:3], x[3])
    assert np.allclose(one, many, rtol=1e-12)
    ds = [g.csr_col_sums.dispatcher(parallel=p) for p in (True, False)]
    hits = sum(sum(d.stats.cache_hits.values()) for d in ds)
    misses = sum(sum(d.stats.cache_misses.values()) for d in ds)
    print(json.dumps(dict(hits=hits, misses=misses, seconds=t1 - t0)))
    """
)


def _run(cache_dir, root):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(root=root)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_second_process_loads_from_cache(tmp_path, request):
    root = str(request.config.rootpath)
    cold = _run(tmp_path, root)
    warm = _run(tmp_path, root)
    assert (cold["hits"], cold["misses"]) == (0, 2)
    assert (warm["hits"], warm["misses"]) == (2, 0)
    assert warm["seconds"] < cold["seconds"]


SERIAL_FIRST = textwrap.dedent(
    """
    import sys
    import numpy as np
    sys.path.insert(0, {root!r})
    from tests.kernels import good_kernels as g
    from scanpy_kernels.toolkit import thread_limit
    x = g._csr(np.random.default_rng(0))
    with thread_limit(1):  # nothing parallel has run in this process
        print(float(g.csr_col_sums(*x[:3], x[3]).sum()))
    """
)


def test_serial_build_from_cache_runs_first_in_a_process(tmp_path, request):
    """A cached serial build using ``numba.get_thread_id()`` as the first numba call.

    numba loads the threading layer (which defines ``get_thread_id``) for parallel
    builds only; without the toolkit launching it, this segfaults on the cache hit.
    """
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    code = SERIAL_FIRST.format(root=str(request.config.rootpath))
    runs = [
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )
        for _ in range(2)  # compile, then load from the cache
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr[-2000:]
    assert runs[0].stdout == runs[1].stdout


def f(x):
    return x + 1


def test_key_covers_options_and_toolkit():
    k = kernel(f)
    disp = k.fresh(cache=True)
    assert isinstance(disp._cache, KernelCache)
    fast = kernel(f, fastmath=True).fresh(cache=True)
    serial = k.fresh(parallel=False, cache=True)
    salts = {disp._cache.salt, fast._cache.salt, serial._cache.salt}
    assert len(salts) == 3
    assert all(s.startswith(toolkit_fingerprint()) for s in salts)
