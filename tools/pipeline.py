"""The migration gates that ``noxfile.py`` runs (usable without nox too).

Subcommands::

    python -m tools.pipeline fork                     # build + install the fork
    python -m tools.pipeline migration [--family F]   # pristine vs patched cases
    python -m tools.pipeline series                   # gate every prefix 1..N
    python -m tools.pipeline scanpy-tests [--family F] [--test tests/test_x.py]
    python -m tools.pipeline main                     # fork + migration + speed

Environments: see tools/envs.py. Case outputs are cached in ``build/migration/``,
keyed by everything that determines them (harness sources, the installed
environment, the fork commit, the data files), so a rerun only recomputes what
changed; ``--fresh`` ignores the cache.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from . import envs, fork, pristine, scanpy_tests, vendor
from ._common import BUILD_DIR, PATCHES_DIR, REPO_ROOT, ToolError, git, load_pins, log
from .series import read_series

if TYPE_CHECKING:
    from collections.abc import Callable

MIGRATION_DIR = BUILD_DIR / "migration"
HARNESS_DIR = REPO_ROOT / "migration_tests"
# the harness is the package migration_tests/: its scripts run as modules in the
# environments' interpreters, with the repository root as cwd and on PYTHONPATH
RUN_CASES = ("-m", "migration_tests.run_cases")
COMPARE = ("-m", "migration_tests.compare")
TESTS_DIR = BUILD_DIR / "scanpy-tests"
DEFAULT_FAMILIES = ("hvg", "rank_genes_groups")
#: processes per patched case run of the series gate (one core each)
CASE_SHARDS = max(1, min(4, os.cpu_count() or 1))
# the series under test; `--patches DIR` points it at a candidate series
SERIES = {"dir": PATCHES_DIR}


def patches_dir() -> Path:
    return SERIES["dir"]


def harness_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the repository root first on
    ``PYTHONPATH``, so ``python -m migration_tests.<mod>`` imports the harness in any
    interpreter (also with ``PYTHONSAFEPATH``, which keeps the cwd off ``sys.path``).
    """
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


@dataclass
class Timer:
    steps: list[tuple[str, float, str]] = field(default_factory=list)

    def run(self, name: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        log(f"\n=== {name}")
        try:
            result = fn(*args, **kw)
        except BaseException:
            self.steps.append((name, time.perf_counter() - t0, "FAILED"))
            raise
        state = "FAILED" if result is False else "ok"
        self.steps.append((name, time.perf_counter() - t0, state))
        return result

    def report(self) -> None:
        print("\nstep timings:")
        for name, secs, state in self.steps:
            print(f"  {secs:8.1f}s  {state:<6}  {name}")


# --- fork -----------------------------------------------------------------------------


def build_and_install(upto: int | None = None) -> str:
    fork.build(fork.DEFAULT_FORK, patches_dir=patches_dir(), upto=upto)
    return envs.install_fork(fork.DEFAULT_FORK)


# --- migration cases ------------------------------------------------------------------


def _harness_key(env: envs.Venv, extra: object = None) -> str:
    h = hashlib.sha256()
    for path in sorted(HARNESS_DIR.glob("*.py")):
        if not path.name.startswith("test_"):
            h.update(path.name.encode() + path.read_bytes())
    h.update(json.dumps(env.stamps(), sort_keys=True).encode())
    data = Path(os.environ.get("SCANPY_KERNELS_DATA", REPO_ROOT.parent / "shared" / "data"))
    if data.is_dir():
        for f in sorted(data.glob("*.h5ad")):
            st = f.stat()
            h.update(f"{f.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    h.update(repr(extra).encode())
    return h.hexdigest()[:16]


@dataclass
class CaseRun:
    """One ``migration_tests.run_cases`` run (or its cached output) in one environment.

    With several shards, one process per shard (whole inputs each) and their outputs
    merged into ``out`` by the environment's own interpreter.
    """

    env: envs.Venv
    out: Path
    shards: int = 1
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log_path(self, k: int) -> Path:
        suffix = f"-{k}" if self.shards > 1 else ""
        return MIGRATION_DIR / "logs" / f"{self.env.name}{suffix}.log"

    def shard_out(self, k: int) -> Path:
        return self.out.with_suffix(f".shard{k}.pkl") if self.shards > 1 else self.out

    def wait(self) -> Path:
        if not self.procs:
            return self.out
        codes = [proc.wait() for proc in self.procs]
        for k, code in enumerate(codes):
            path = self.log_path(k)
            lines = path.read_text().strip().splitlines() if path.exists() else []
            log(f"[{self.env.name}] " + (lines[-1] if lines else "no output"))
            if code != 0 or not self.shard_out(k).exists():
                msg = (
                    f"migration_tests.run_cases failed in {self.env.name} (exit {code}); see {path}"
                )
                raise ToolError(msg)
        if self.shards > 1:
            shards = [self.shard_out(k) for k in range(self.shards)]
            cmd = [str(self.env.python), *RUN_CASES, "--out"]
            subprocess.run(
                [*cmd, str(self.out), "--merge", *map(str, shards)],
                cwd=REPO_ROOT,
                env=harness_env(),
                check=True,
            )
            for path in shards:
                path.unlink()
        self.procs = []
        return self.out


def case_env(env: envs.Venv) -> dict[str, str]:
    """Environment variables of a case run in ``env``: a numba cache kept beside it.

    Installing the fork replaces ``site-packages/scanpy`` with its ``__pycache__``,
    where numba keeps compiled kernels by default; in ``build/numba-cache/<env>``
    they outlive a reinstall, and numba's index (keyed by source content, and by the
    kernel layer's salt) serves them again where the sources are the same (the
    vendored kernels are the same in every prefix of the series). An existing
    ``NUMBA_CACHE_DIR`` is kept.
    """
    cache = os.environ.get("NUMBA_CACHE_DIR") or str(BUILD_DIR / "numba-cache" / env.name)
    return harness_env({**os.environ, "NUMBA_CACHE_DIR": cache})


def start_cases(
    env: envs.Venv,
    families: list[str],
    key_extra: object = None,
    *,
    fresh: bool = False,
    shards: int = 1,
) -> CaseRun:
    """Start ``migration_tests.run_cases`` for ``families`` in ``env`` unless cached output exists.

    ``shards`` > 1 splits the cases over that many processes (one core each: the
    cases run scanpy with its default ``n_jobs=1``).
    """
    fam = "+".join(sorted(families))
    out = MIGRATION_DIR / f"{env.name}-{fam}-{_harness_key(env, key_extra)}.pkl"
    run = CaseRun(env, out, shards)
    if out.exists() and not fresh:
        log(f"[{env.name}] reusing cached case outputs {out.name}")
        return run
    base = [str(env.python), *RUN_CASES]
    base += [a for f in families for a in ("--family", f)]
    for k in range(shards):
        cmd = [*base, "--out", str(run.shard_out(k))]
        cmd += ["--shard", f"{k}/{shards}"] if shards > 1 else []
        path = run.log_path(k)
        path.parent.mkdir(parents=True, exist_ok=True)
        log(f"[{env.name}] {' '.join(cmd)}  (log: {path})")
        with path.open("w") as f:
            proc = subprocess.Popen(
                cmd, cwd=REPO_ROOT, env=case_env(env), stdout=f, stderr=subprocess.STDOUT
            )
        run.procs.append(proc)
    return run


def fork_head() -> str:
    return git(fork.DEFAULT_FORK, "rev-parse", "HEAD").stdout.strip()


def run_both(families: list[str], *, fresh: bool = False) -> tuple[Path, Path]:
    """Run the cases of ``families`` in both envs, in parallel; cached outputs reused."""
    a = start_cases(envs.PRISTINE, families, fresh=fresh)
    b = start_cases(envs.PATCHED, families, fork_head(), fresh=fresh)
    return a.wait(), b.wait()


def compare(pristine_out: Path, patched_out: Path, families: list[str]) -> bool:
    report = MIGRATION_DIR / "report.tsv"
    cmd = [str(envs.PATCHED.python), *COMPARE, str(pristine_out), str(patched_out)]
    cmd += [a for fam in families for a in ("--family", fam)] + [
        "--report",
        str(report),
    ]
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=harness_env(), check=False)
    print(f"(full table: {report})")
    return proc.returncode == 0


def migration(families: list[str], *, fresh: bool = False, build: bool = True) -> bool:
    timer = Timer()
    if build:
        version = timer.run("build + install fork", build_and_install)
        print(f"patched env: scanpy {version}")
    timer.run("environments", envs.ensure_base, envs.PRISTINE)
    a, b = timer.run("run cases (pristine | patched)", run_both, families, fresh=fresh)
    ok = timer.run("compare", compare, a, b, families)
    timer.report()
    return ok


# --- series gate ----------------------------------------------------------------------


def _deps(pyproject: Path) -> dict[str, object]:
    import tomllib

    project = tomllib.loads(pyproject.read_text())["project"]
    return {
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {
            k: sorted(v) for k, v in project.get("optional-dependencies", {}).items()
        },
    }


def check_no_new_deps(fork_dir: Path) -> None:
    base = pristine.template(load_pins())
    if _deps(fork_dir / "pyproject.toml") != _deps(base / "pyproject.toml"):
        msg = "the series changes scanpy's dependency tables (runtime deps must not change)"
        raise ToolError(msg)


VERIFY_CACHE = BUILD_DIR / "verify-cache"


def verifier(env: envs.Venv, fork_dir: Path = fork.DEFAULT_FORK) -> str:
    """Run ``python -m scanpy._kernels.verify`` in ``env`` if the package has it.

    The verdict is cached per content of ``src/scanpy/_kernels`` (its git tree id,
    which includes the verifier itself) and per installed environment, so prefixes
    that leave the vendored tree alone (every patch after 0001) reuse it.
    """
    probe = (
        "import importlib.util as u; s = u.find_spec('scanpy._kernels.verify'); "
        "print(bool(s) and (s.submodule_search_locations is None or "
        "bool(u.find_spec('scanpy._kernels.verify.__main__'))))"
    )
    tree = git(fork_dir, "rev-parse", f"HEAD:{load_pins().vendor_target}").stdout.strip()
    deps = {k: v for k, v in env.stamps().items() if k != "fork"}
    stamp = VERIFY_CACHE / f"{tree}-{envs.key(deps)}.passed"
    if stamp.exists():
        # the cases import scanpy next (and fail if it does not import)
        log(f"verifier: passed before on this exact kernels tree ({tree[:12]}): reused")
        return "passed (cached)"
    smoke = subprocess.run([env.python, "-c", "import scanpy, scanpy._kernels"], check=False)
    if smoke.returncode != 0:
        msg = "import scanpy / scanpy._kernels fails in the patched env"
        raise ToolError(msg)
    has = subprocess.run([env.python, "-c", probe], capture_output=True, text=True, check=False)
    if has.stdout.strip() != "True":
        log("verifier: scanpy._kernels.verify is not runnable in this fork yet: skipped")
        return "absent"
    proc = subprocess.run([env.python, "-m", "scanpy._kernels.verify"], cwd=BUILD_DIR, check=False)
    if proc.returncode != 0:
        msg = "python -m scanpy._kernels.verify reported findings"
        raise ToolError(msg)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(f"{tree}\n")
    return "passed"


def _vendor_up_to_date() -> None:
    if vendor.check(patches_dir()) != 0:
        msg = "patch 0001 is stale; run python -m tools.vendor"
        raise ToolError(msg)


def series_gate(*, fresh: bool = False) -> bool:
    timer = Timer()
    try:
        timer.run("vendor patch up to date", _vendor_up_to_date)
    except ToolError as e:
        timer.report()
        print(f"SERIES GATE FAILED: {e}")
        return False
    patches = read_series(patches_dir())
    timer.run("environments", envs.ensure_base, envs.PRISTINE)
    all_families = list(dict.fromkeys(f for p in patches for f in p.migrates))
    # pristine outputs of every family the series migrates, computed once and in the
    # background (overlapping the fork builds and the verifier)
    pristine_run = start_cases(envs.PRISTINE, all_families, fresh=fresh) if all_families else None
    rows: list[tuple[int, str, str, str]] = []
    migrated: list[str] = []
    failure = ""
    for p in patches:
        for fam in p.migrates:
            if fam not in migrated:
                migrated.append(fam)
        step = f"[{p.index}/{len(patches)}] {p.name}"
        try:
            timer.run(
                f"{step}: build fork --upto {p.index}",
                fork.build,
                fork.DEFAULT_FORK,
                patches_dir=patches_dir(),
                upto=p.index,
            )
            timer.run(f"{step}: no new runtime deps", check_no_new_deps, fork.DEFAULT_FORK)
            timer.run(f"{step}: install", envs.install_fork, fork.DEFAULT_FORK)
            ver = timer.run(f"{step}: verifier", verifier, envs.PATCHED)
            if migrated and pristine_run is not None:
                # one shard per core: the pristine run (started first) is done by now,
                # or soon, and each case process runs on one core
                patched_run = start_cases(
                    envs.PATCHED, migrated, fork_head(), fresh=fresh, shards=CASE_SHARDS
                )
                b = timer.run(f"{step}: cases {','.join(migrated)} (patched)", patched_run.wait)
                a = timer.run(f"{step}: cases (pristine, all families)", pristine_run.wait)
                if not timer.run(f"{step}: compare", compare, a, b, migrated):
                    raise ToolError(f"migration cases differ for {', '.join(migrated)}")
                cases = "equal"
            else:
                cases = "none migrated yet"
            rows.append(
                (
                    p.index,
                    p.name,
                    ",".join(p.migrates) or "-",
                    f"ok (verifier {ver}; cases {cases})",
                )
            )
        except ToolError as e:
            rows.append((p.index, p.name, ",".join(p.migrates) or "-", "FAILED"))
            failure = f"patch {p.index}/{len(patches)} {p.name} breaks the series:\n{e}"
            break
    for proc in pristine_run.procs if pristine_run is not None else ():
        proc.terminate()  # the gate already failed; do not wait for it
    timer.report()
    print("\nseries gate:")
    for i, name, fams, state in rows:
        print(f"  {i:>3}  {name:<60}  migrates: {fams:<24}  {state}")
    if failure:
        print(f"\nSERIES GATE FAILED at {failure}")
        return False
    print(f"\nSERIES GATE PASSED: {len(patches)} patch(es)")
    return True


# --- scanpy's own tests ---------------------------------------------------------------


def _pytest_args(env: envs.Venv, junit: Path, files: list[str], workers: str) -> list[str]:
    has_p4 = (
        subprocess.run(
            [env.python, "-c", "import pandas.errors as e; print(hasattr(e, 'Pandas4Warning'))"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        == "True"
    )
    args = [str(env.python), "-m", "pytest", *files, f"--junitxml={junit}", "-q"]
    # scanpy's fixtures use pytest's `cache`: keep the plugin, out of the trees
    args += ["-o", f"cache_dir={TESTS_DIR / ('.pytest_cache-' + env.name)}"]
    # fixed seed: both sides draw the same random data and order
    args += ["-p", "randomly", "--randomly-seed=1234"]
    args += ["-n", workers] if workers != "0" else []
    # pandas 3 warns on h5ad reads; scanpy's filterwarnings=error would fail both sides
    args += ["-W", "ignore::pandas.errors.Pandas4Warning"] if has_p4 else []
    return args


def _run_pytest(env: envs.Venv, tree: Path, files: list[str], workers: str) -> dict[str, str]:
    junit = TESTS_DIR / f"{env.name}.xml"
    junit.unlink(missing_ok=True)
    log_path = TESTS_DIR / f"{env.name}.log"
    cmd = _pytest_args(env, junit, files, workers)
    log(f"[{env.name}] (cd {tree}) {' '.join(cmd)}  (log: {log_path})")
    with log_path.open("w") as f:
        proc = subprocess.run(cmd, cwd=tree, stdout=f, stderr=subprocess.STDOUT, check=False)
    last = log_path.read_text().strip().splitlines()[-1:] if log_path.exists() else []
    log(f"[{env.name}] pytest exit {proc.returncode}: {last[0] if last else ''}")
    if not junit.exists():
        msg = f"pytest in {env.name} wrote no junit file (exit {proc.returncode}); see {log_path}"
        raise ToolError(msg)
    return scanpy_tests.outcomes(junit)


def scanpy_test_run(families: list[str], extra_tests: list[str], workers: str) -> bool:
    timer = Timer()
    TESTS_DIR.mkdir(parents=True, exist_ok=True)
    for env in (envs.PRISTINE, envs.PATCHED):
        timer.run(
            f"environment {env.name} (+ scanpy test deps)",
            envs.ensure_base,
            env,
            test_deps=True,
        )
    timer.run("build + install fork", build_and_install)
    series_families = [f for p in read_series(patches_dir()) for f in p.migrates]
    touched = fork.touched(fork.DEFAULT_FORK)
    fams = list(dict.fromkeys([*series_families, *families]))
    pristine_tree = TESTS_DIR / "pristine-tree"
    timer.run("pristine tree", pristine.create, pristine_tree)
    files = scanpy_tests.test_files(touched, fams, fork.DEFAULT_FORK)
    files = list(dict.fromkeys([*files, *extra_tests]))
    print(f"touched by the series: {len(touched)} files; families: {', '.join(fams) or '-'}")
    print("scanpy test files: " + (" ".join(files) or "none"))
    if not files:
        print("no scanpy test file maps to the series: nothing to compare")
        timer.report()
        return True
    pristine_files = [f for f in files if (pristine_tree / f).is_file()]
    a = timer.run(
        "pytest pristine",
        _run_pytest,
        envs.PRISTINE,
        pristine_tree,
        pristine_files,
        workers,
    )
    b = timer.run("pytest patched", _run_pytest, envs.PATCHED, fork.DEFAULT_FORK, files, workers)
    timer.report()
    print(f"\npristine: {scanpy_tests.tally(a)}")
    print(f"patched:  {scanpy_tests.tally(b)}")
    bad = scanpy_tests.worse(a, b)
    for test, x, y in bad:
        print(f"  WORSE  {test}: {x} -> {y}")
    if bad:
        print(f"SCANPY TESTS FAILED: {len(bad)} test(s) worse with the series")
        return False
    print("SCANPY TESTS OK: no test outcome is worse with the series")
    return True


# --- main -----------------------------------------------------------------------------


def main_job(*, fresh: bool = False) -> bool:
    ok = migration(list(DEFAULT_FAMILIES), fresh=fresh)
    print("\n=== equivalence: " + ("EQUIVALENT" if ok else "DIFFERENT (see the table above)"))
    speed = REPO_ROOT / "benchmarks" / "speed.py"
    if speed.exists():
        print("\n=== speed (benchmarks/speed.py --quick)")
        env = {
            **os.environ,
            "SCANPY_KERNELS_PRISTINE_PYTHON": str(envs.PRISTINE.python),
            "SCANPY_KERNELS_PATCHED_PYTHON": str(envs.PATCHED.python),
        }
        proc = subprocess.run(
            [envs.PATCHED.python, str(speed), "--quick"],
            cwd=REPO_ROOT,
            env=env,
            check=False,
        )
        ok = ok and proc.returncode == 0
    else:
        print("\n(no benchmarks/speed.py yet: no speed summary)")
    return ok


def _exclusive_lock() -> IO[str]:
    """Serialize pipeline runs: they share build/envs/ and build/scanpy-fork/."""
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    f = (BUILD_DIR / ".pipeline.lock").open("w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("another tools.pipeline run holds build/.pipeline.lock: waiting for it")
        fcntl.flock(f, fcntl.LOCK_EX)
    return f


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--patches", type=Path, default=PATCHES_DIR, help="series directory (default patches/)"
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser(
        "fork", parents=[common], help="build the full series and install it into the patched env"
    )
    m = sub.add_parser("migration", parents=[common], help="pristine vs patched golden outputs")
    m.add_argument("--family", action="append")
    m.add_argument("--fresh", action="store_true")
    s = sub.add_parser("series", parents=[common], help="gate every prefix of the series")
    s.add_argument("--fresh", action="store_true")
    t = sub.add_parser(
        "scanpy-tests", parents=[common], help="scanpy's own tests, pristine vs patched"
    )
    t.add_argument("--family", action="append", default=[], help="add this family's test files")
    t.add_argument("--test", action="append", default=[], help="add a test file (tests/...)")
    t.add_argument("-n", "--workers", default="2", help="pytest-xdist workers (0: none)")
    mj = sub.add_parser("main", parents=[common], help="fork + migration + speed summary")
    mj.add_argument("--fresh", action="store_true")
    args = parser.parse_args(argv)
    SERIES["dir"] = args.patches.resolve()
    lock = _exclusive_lock()
    # scanpy formats some messages from sets of strings: fix the hash seed
    os.environ["PYTHONHASHSEED"] = "0"
    try:
        if args.cmd == "fork":
            print(build_and_install())
            ok = True
        elif args.cmd == "migration":
            ok = migration(args.family or list(DEFAULT_FAMILIES), fresh=args.fresh)
        elif args.cmd == "series":
            ok = series_gate(fresh=args.fresh)
        elif args.cmd == "scanpy-tests":
            ok = scanpy_test_run(args.family, args.test, args.workers)
        else:
            ok = main_job(fresh=args.fresh)
    except ToolError as e:
        log(f"error: {e}")
        return 1
    finally:
        lock.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
