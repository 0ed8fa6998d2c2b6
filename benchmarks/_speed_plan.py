"""speed.py's plan: which processes run, in which order, with what job.

Every task is one fresh process.  Paired sections alternate pristine (A) and patched
(B) processes ``A B A B ...`` on the same dataset, format and thread count; the public
implementations run once per dataset, right after the first pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from _speed_cases import CASES

#: cases of each public function (compile time is per public function)
FUNCTIONS: dict[str, list[str]] = {
    "sc.pp.highly_variable_genes": [c for c in CASES if c.startswith("hvg_") and c != "hvg_pearson"],
    "sc.experimental.pp.highly_variable_genes": ["hvg_pearson"],
    "sc.tl.rank_genes_groups": [c for c in CASES if c.startswith("rgg_")],
    "sc.pp.calculate_qc_metrics": ["qc_metrics"],
    "sc.pp.filter_cells": ["filter_cells"],
    "sc.pp.filter_genes": ["filter_genes"],
    "sc.pp.normalize_total": ["normalize_total", "normalize_total_median"],
    "sc.pp.scale": ["scale", "scale_no_center"],
    "sc.pp.regress_out": ["regress_out", "regress_out_continuous"],
    "sc.metrics.morans_i": ["morans_i"],
    "sc.metrics.gearys_c": ["gearys_c"],
    "sc.get.aggregate": [c for c in CASES if c.startswith("aggregate_")],
}
#: one case per kernel family, for the larger sizes and the cells scaling
SUBSET = [
    "hvg_seurat", "hvg_seurat_v3", "hvg_pearson", "rgg_wilcoxon", "rgg_t-test", "qc_metrics",
    "normalize_total", "scale_no_center",
]
#: M, CSC and --quick: everything but the three slower Wilcoxon variants,
#: regress_out (pristine fits one statsmodels GLM per gene: minutes on M; its M
#: figure is measured with ``--cases regress_out --sizes M``) and the metrics
#: (pristine: 20-30 s a call on M; ``--cases morans_i,gearys_c --sizes M``)
HEAVY = ("regress_out", "morans_i", "gearys_c")
LIGHT = [c for c in CASES if not c.startswith("rgg_wilcoxon_") and c not in HEAVY]


#: the defaults section times each short case for at least this long (seconds; at
#: most DEFAULTS_MAX_CALLS calls): its busy threads are CPU seconds over wall seconds,
#: and over a few milliseconds (3 calls of a 1 ms case) they measure thread wake-ups
#: and OpenMP's spinning, not the call (measured: normalize_total on S, 3 calls 1.00
#: to 1.78 busy threads, 300 calls 1.98, pristine 1.57 to 1.98)
DEFAULTS_WINDOW_S = 0.5
DEFAULTS_MAX_CALLS = 1000


@dataclass
class Task:
    section: str  # pairs | defaults | public | compile | threads | probe | scaling
    side: str  # pristine | patched | biosparse | illico
    script: str  # _speed_worker.py | _speed_probe.py
    job: dict[str, Any]
    threads: int = 2
    cache: str | None = None  # compile: "cold" | "warm" (NUMBA_CACHE_DIR handling)
    tag: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        j = self.job
        what = j.get("data", "")
        if "fmt" in j:
            what += f"/{j['fmt']}"
        extra = f" {self.cache}" if self.cache else ""
        return f"{self.section}: {self.side} {what}{extra} t={self.threads}"


@dataclass
class Options:
    sizes: list[str]
    formats: list[str]
    pairs: int
    repeats: int
    min_time: float
    sections: set[str]
    scaling: list[str]
    public: list[str]  # public implementations available
    probe_data: str
    cases: list[str] | None = None  # restrict (also overrides LIGHT where named)
    m_pairs: int = 1  # pairs on M
    light: bool = False  # LIGHT cases everywhere (--quick)


def _job(cases: list[str], data: str, fmt: str, threads: int, opts: Options, *,
         impl: str = "scanpy", warmup: str = "slice", repeats: int | None = None,
         min_time: float | None = None, default_settings: bool = False) -> dict[str, Any]:
    return {"impl": impl, "cases": cases, "data": data, "fmt": fmt, "threads": threads,
            "repeats": opts.repeats if repeats is None else repeats,
            "min_time": opts.min_time if min_time is None else min_time, "warmup": warmup,
            "default_settings": default_settings}


def _cases_for(data: str, fmt: str, opts: Options) -> list[str]:
    """All cases on the first format of S-like sizes; LIGHT on M, other formats, --quick.

    Cases named with ``--cases`` run wherever their size and format do.
    """
    if opts.cases is not None:
        return [c for c in CASES if c in opts.cases]
    light = opts.light or data == "M" or fmt != opts.formats[0]
    return list(LIGHT if light else CASES)


def _paired(section: str, cases: list[str], data: str, fmt: str, *, pairs: int,
            opts: Options, threads: int = 2, **kw: Any) -> list[Task]:
    out = []
    for k in range(pairs):
        for side in ("pristine", "patched"):
            job = _job(cases, data, fmt, threads, opts, **kw)
            out.append(Task(section, side, "_speed_worker.py", job, threads,
                            tag={"pair": k, "data": data, "fmt": fmt}))
    return out


def build(opts: Options) -> list[Task]:
    tasks: list[Task] = []
    for data in opts.sizes:
        big = data == "M"
        for fmt in opts.formats:
            if big and fmt != opts.formats[0]:
                continue  # M: one format (a pristine CSC pass alone takes ~10 min here)
            cases = _cases_for(data, fmt, opts)
            pairs = opts.m_pairs if big else opts.pairs if fmt == opts.formats[0] else 1
            reps = 1 if big else None
            block = _paired("pairs", cases, data, fmt, pairs=pairs, opts=opts, repeats=reps)
            if "public" in opts.sections and fmt == "csr":
                pub = [Task("public", impl, "_speed_worker.py",
                            _job(cases, data, fmt, 2, opts, impl=impl, repeats=reps), 2,
                            tag={"data": data, "fmt": fmt})
                       for impl in opts.public]
                block[2:2] = pub  # after the first pair
            if "pairs" in opts.sections:
                tasks += block
            else:
                tasks += [t for t in block if t.section == "public"]
            if "defaults" in opts.sections and fmt == opts.formats[0]:
                # scanpy's default settings (n_jobs never set), NUMBA_NUM_THREADS=2
                tasks += _paired("defaults", cases, data, fmt, pairs=pairs, opts=opts,
                                 repeats=reps or DEFAULTS_MAX_CALLS,
                                 min_time=DEFAULTS_WINDOW_S, default_settings=True)
    if "scaling" in opts.sections:
        sub = [c for c in SUBSET if opts.cases is None or c in opts.cases]
        for data in opts.scaling:
            if data in opts.sizes and "csr" in opts.formats and "pairs" in opts.sections:
                continue  # measured above
            tasks += _paired("scaling", sub, data, "csr", pairs=1, opts=opts, repeats=1)
    if "threads" in opts.sections:
        data = opts.sizes[0]
        sub = [c for c in SUBSET if opts.cases is None or c in opts.cases]
        for threads in (1, 2):
            tasks.append(Task("threads", "patched", "_speed_worker.py",
                              _job(sub, data, "csr", threads, opts),
                              threads, tag={"pair": 0, "data": data, "fmt": "csr"}))
    if "probe" in opts.sections:
        tasks.append(Task("probe", "patched", "_speed_probe.py",
                          {"data": opts.probe_data, "repeats": 9}, 2, tag={"data": opts.probe_data}))
    if "compile" in opts.sections:
        # one flavor/method per process, as a user calls one: cold = an empty numba
        # cache (a new machine, container or CI runner), warm = that cache, a new process
        cases = [c for fn in FUNCTIONS.values() for c in fn if opts.cases is None or c in opts.cases]
        for case in cases:
            for side in ("pristine", "patched"):
                for cache in ("cold", "warm"):
                    job = _job([case], "XS", "csr", 2, opts, warmup="none", repeats=2,
                               min_time=1e9)
                    tasks.append(Task("compile", side, "_speed_worker.py", job, 2, cache=cache,
                                      tag={"data": "XS"}))
    return tasks
