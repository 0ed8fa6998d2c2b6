"""Shared set-up of the asv suites: datasets, formats, JIT warm-up, asv attributes."""

from __future__ import annotations

import os
from typing import Any

from _data import REAL, is_known, load_adata  # benchmarks/ is on sys.path (suites/__init__)
from _speed_cases import CASES

#: generated sizes first, then the shared real matrices; override with
#: SCANPY_BENCH_DATASETS=S,kang8684 (comma list) in the environment of ``asv run``
DEFAULT_DATASETS = ["S", "M", *REAL]
DATASETS = [d for d in os.environ.get("SCANPY_BENCH_DATASETS", ",".join(DEFAULT_DATASETS)).split(",") if d]
FORMATS = ["csr", "csc"]
WARM_CELLS = 2000

assert all(is_known(d) for d in DATASETS), f"unknown dataset in {DATASETS}"


class CaseSuite:
    """Times ``CASES[<prefix><param>]`` on a dataset in a format.

    ``setup`` loads the (cached) data and calls the case once on a ~2,000-cell slice
    of the same matrix, so numba's compilation (or cache load) is not timed; combos
    whose dataset lacks the needed labels are skipped (``NotImplementedError``).
    """

    prefix = ""
    timeout = 1800  # pristine Wilcoxon on M takes minutes
    number = 1  # one call per sample
    repeat = (1, 5, 20.0)  # 1..5 samples, stop after 20 s
    warmup_time = 0.0  # warmed up in setup, on a slice
    processes = 2

    def setup(self, dataset: str, fmt: str, variant: str) -> None:
        import numba
        import scanpy as sc

        self.sc = sc
        self.case = CASES[self.prefix + variant]
        sc.settings.n_jobs = numba.get_num_threads()
        sc.settings.verbosity = 0
        self.adata = load_adata(dataset, log1p=self.case.log1p, fmt=fmt)
        if not self.case.applies(self.adata):
            raise NotImplementedError(f"{dataset} has no labels for {self.case.name}")
        step = max(1, self.adata.n_obs // WARM_CELLS)
        self.case.call(sc, self.adata[::step].copy())

    def run(self) -> Any:
        return self.case.call(self.sc, self.adata)
