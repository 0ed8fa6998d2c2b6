"""Side-by-side speed report: pristine scanpy vs the patched fork (and public anchors).

    .venv/bin/python benchmarks/speed.py \\
        --pristine-python build/envs/pristine/bin/python \\
        --patched-python build/envs/patched/bin/python [--quick] [--sizes S M] \\
        [--out docs/performance.md]

Every measurement is a fresh process (benchmarks/_speed_worker.py); pristine (A) and
patched (B) processes alternate A B A B on the same data with the same thread count
(2: ``sc.settings.n_jobs = 2``, ``NUMBA_NUM_THREADS=2``).  Each process loads the data,
warms every case up (numba compiles; on a ~2,000-cell slice of the same matrix), then
times it; the report gives per-side medians and the median of the paired ratios.

Sections (``--sections``): pairs, defaults (the same pairs at scanpy's default settings:
``sc.settings.n_jobs`` never set), public (biosparse 0.1.1, illico 0.6.0 in their own
venvs under build/bench-envs/, installed on first use), probe (memory-bandwidth floor
and kernels' distance from it), threads (patched at 1 and 2 threads), compile (first
call with an empty and a warm numba cache), scaling (time vs number of cells).
``--quick``: size S only, 2 pairs, one timed call per case, no compile/scaling
sections (a few minutes).  Raw results go to build/bench-results/speed-*.json;
``--from-json FILE`` re-renders a report from them.  Dev python: .venv (matplotlib,
tqdm); the workers need only numpy/scipy/anndata/scanpy.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _speed_envs as envs  # noqa: E402
from _data import SIZES, is_known, load_dataset, matrix  # noqa: E402
from _speed_plan import Options, Task, build  # noqa: E402
from _speed_proc import parse  # noqa: E402

ROOT = HERE.parent
RESULTS = ROOT / "build" / "bench-results"
THREAD_VARS = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
               "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
ALL_SECTIONS = ("pairs", "defaults", "public", "probe", "threads", "compile", "scaling")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class Bar:
    """tqdm if available, else a plain text bar on stderr."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.t0 = total, 0, time.time()
        try:
            from tqdm import tqdm

            self.tq = tqdm(total=total, unit="proc", file=sys.stderr, dynamic_ncols=True)
        except ImportError:
            self.tq = None

    def step(self, desc: str) -> None:
        if self.tq is not None:
            self.tq.set_description(desc[:60])
            return
        done = int(30 * self.n / max(1, self.total))
        el = time.time() - self.t0
        sys.stderr.write(f"\r[{'#' * done}{'.' * (30 - done)}] {self.n}/{self.total} "
                         f"{el:5.0f}s {desc[:50]:<50}")
        sys.stderr.flush()

    def advance(self) -> None:
        self.n += 1
        if self.tq is not None:
            self.tq.update(1)

    def close(self) -> None:
        if self.tq is not None:
            self.tq.close()
        else:
            sys.stderr.write("\n")


def _env(task: Task, cache_dirs: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.update({k: str(task.threads) for k in THREAD_VARS})
    env["PYTHONWARNINGS"] = "ignore"
    if task.cache:
        key = task.side
        if task.cache == "cold":
            cache_dirs[key] = tempfile.mkdtemp(prefix="nbcache-", dir=RESULTS)
        env["NUMBA_CACHE_DIR"] = cache_dirs[key]
    return env


def run_task(task: Task, python: str, cache_dirs: dict[str, str], timeout: float) -> dict[str, Any]:
    cmd = [python, str(HERE / task.script), json.dumps(task.job)]
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, check=False, env=_env(task, cache_dirs), capture_output=True, text=True,
                              timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    res = parse(proc.stdout)
    if res is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        res = {"error": f"exit {proc.returncode}: " + " | ".join(tail)[-400:]}
    res["wall_s"] = time.time() - t0
    return res


def prepare_data(specs: list[str]) -> None:
    """Generate/cache every dataset once, before any timed process."""
    for spec in specs:
        t0 = time.time()
        load_dataset(spec)
        if spec not in ("XS",):
            for log1p in (False, True):
                for fmt in ("csr", "csc"):
                    matrix(spec, log1p=log1p, fmt=fmt)
        if time.time() - t0 > 1:
            log(f"data {spec}: ready in {time.time() - t0:.0f} s (cached under build/bench-data/)")


def options(args: argparse.Namespace, public: list[str]) -> Options:
    quick = args.quick
    sizes = args.sizes or (["S"] if quick else ["S", "M"])
    sections = set(args.sections.split(",")) if args.sections else (
        {"pairs", "defaults", "public", "probe"} if quick else set(ALL_SECTIONS))
    scaling = args.scaling or ["5000x5000", "S", "20000x5000"]
    probe = args.probe_data or ("M" if "M" in sizes else sizes[0])
    return Options(
        sizes=sizes, formats=args.formats or (["csr"] if quick else ["csr", "csc"]),
        pairs=args.pairs or 2, m_pairs=args.m_pairs, repeats=args.repeats or (1 if quick else 3),
        min_time=0.0 if quick else 1.5, sections=sections, scaling=scaling,
        public=public, probe_data=probe, cases=args.cases.split(",") if args.cases else None,
        light=quick,
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pristine-python", default=os.environ.get(
        "SCANPY_KERNELS_PRISTINE_PYTHON") or envs.default_python("pristine"))
    ap.add_argument("--patched-python", default=os.environ.get(
        "SCANPY_KERNELS_PATCHED_PYTHON") or envs.default_python("patched"))
    ap.add_argument("--quick", action="store_true", help="S only, fewer repeats, a few minutes")
    ap.add_argument("--sizes", nargs="+", help=f"datasets: {sorted(SIZES)}, NxG, or real names")
    ap.add_argument("--formats", nargs="+", choices=["csr", "csc"])
    ap.add_argument("--pairs", type=int, help="A/B process pairs on the main format (default 2)")
    ap.add_argument("--m-pairs", type=int, default=1,
                    help="A/B pairs on M (default 1: a pristine wilcoxon there takes ~30 s)")
    ap.add_argument("--public", help="comma list of public anchors (default biosparse,illico; "
                    "--quick: illico, as biosparse recompiles for ~1.5 min in every process)")
    ap.add_argument("--repeats", type=int, help="max timed calls per case and process")
    ap.add_argument("--sections", help=f"comma list of {','.join(ALL_SECTIONS)}")
    ap.add_argument("--scaling", nargs="+", help="datasets of the cells-scaling plot")
    ap.add_argument("--probe-data", help="dataset of the bandwidth probe (default: largest)")
    ap.add_argument("--cases", help="comma list of cases (default: all; on M and CSC, all "
                    "but the slower Wilcoxon variants, unless named here)")
    ap.add_argument("--no-install", action="store_true", help="do not pip-install biosparse/illico")
    ap.add_argument("--timeout", type=float, default=1800, help="per process, seconds")
    ap.add_argument("--out", type=Path, help="report (default: docs/performance.md; with "
                    "--quick build/bench-results/quick/performance.md)")
    ap.add_argument("--from-json", type=Path, help="re-render a report from saved results")
    ap.add_argument("--note", help="a sentence shown at the top of the report")
    ap.add_argument("--check-defaults", action="store_true", help="exit 1 if at default "
                    "settings a patched case is slower or keeps fewer threads busy than pristine")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from _speed_report import defaults_check, summary, write_report

    if args.out is None:
        args.out = RESULTS / "quick" / "performance.md" if args.quick else ROOT / "docs" / "performance.md"

    if args.from_json:
        res = json.loads(args.from_json.read_text())
        res["note"] = args.note or res.get("note")
        write_report(res, args.out)
        log(f"wrote {args.out}")
        return 0
    for side in ("pristine", "patched"):
        py = getattr(args, f"{side}_python")
        if not py or not Path(py).exists():
            log(f"--{side}-python: no interpreter ({py}); build the envs (nox -s fork) or pass one")
            return 2
        setattr(args, f"{side}_python", os.path.abspath(py))  # not resolve(): keep the venv
    for spec in args.sizes or []:
        if not is_known(spec):
            log(f"unknown dataset {spec!r}")
            return 2
    t_start = time.time()
    machine = envs.machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    wanted = set(args.sections.split(",")) if args.sections else {"public"}
    public, public_status = [], {}
    names = args.public.split(",") if args.public else (["illico"] if args.quick else list(envs.PUBLIC))
    for name in envs.PUBLIC:
        if name not in names:
            public_status[name] = {"python": None, "status": "not run (--public / --quick)"}
            continue
        py, why = envs.ensure_public(name, install=not args.no_install, log=log) if "public" in wanted \
            else (None, "section not run")
        public_status[name] = {"python": py, "status": why}
        if py:
            public.append(name)
    opts = options(args, public)
    pythons = {"pristine": args.pristine_python, "patched": args.patched_python,
               **{n: s["python"] for n, s in public_status.items() if s["python"]}}
    tasks = build(opts)
    specs = sorted({t.job["data"] for t in tasks}, key=lambda s: (s != "XS", s))
    prepare_data(specs)
    log(f"{len(tasks)} processes; pristine={pythons['pristine']} patched={pythons['patched']}")
    runs, cache_dirs = [], {}
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(t_start))
    raw = RESULTS / f"speed-{stamp}.json"
    meta = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t_start)),
        "command": "python " + " ".join(shlex.quote(a) for a in [
            os.path.relpath(__file__, ROOT), *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "note": args.note,
        "pythons": {k: os.path.relpath(v, ROOT) if v.startswith(str(ROOT)) else v
                    for k, v in pythons.items()},
        "python_versions": {k: envs.python_version(v) for k, v in pythons.items()},
        "public": public_status,
        "machine": machine,
        "options": {**vars(opts), "sections": sorted(opts.sections)},
    }

    def save() -> dict[str, Any]:
        results = {**meta, "runtime_s": time.time() - t_start,
                   "load_end": envs.machine().get("load", "?"), "runs": runs}
        raw.write_text(json.dumps(results, indent=1, default=str))  # after every process
        return results

    bar = Bar(len(tasks))
    for task in tasks:
        bar.step(task.describe())
        res = run_task(task, pythons[task.side], cache_dirs, args.timeout)
        runs.append({"section": task.section, "side": task.side, "threads": task.threads,
                     "cache": task.cache, "job": task.job, "tag": task.tag, "result": res})
        if "error" in res:
            log(f"\n{task.describe()}: {res['error']}")
        save()
        bar.advance()
    bar.close()
    results = save()
    write_report(results, args.out)
    print(summary(results))
    log(f"wrote {args.out} and {raw} in {results['runtime_s'] / 60:.1f} min")
    if args.check_defaults:
        table, failures = defaults_check(results)
        print("\n".join(table))
        if not table or failures:
            log("default settings: " + ("; ".join(failures) or "no defaults section ran"))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
