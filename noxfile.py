"""Sessions of the scanpy-kernels project (``nox -l`` lists them).

Python 3.12 comes from pyenv here (plain ``python3`` is 3.11): the interpreter is
found by ``python -m tools.envs python312``, the project's one finder (noxw and
.ci/run call it too) — ``$SCANPY_KERNELS_PYTHON``, a working ``python3.12`` on PATH,
else ``pyenv which python3.12`` with ``PYENV_VERSION=<newest installed 3.12.x>`` —
and handed to nox as an explicit path, so neither ``pyenv shell`` nor
``PYENV_VERSION`` is needed.

``tests`` and ``verify`` use nox's own (reused) virtualenvs. The migration
sessions (``fork``, ``migration``, ``series``, ``scanpy-tests``, ``main``) run
``python -m tools.pipeline`` from a small reused nox venv that holds ``uv``; they share two
environments that ``tools.envs`` keeps under ``build/envs/`` (pristine scanpy
from the verified sdist, and the fork built from ``patches/``), reused between
sessions and created/installed with uv (pip if uv is missing: much slower).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
# the tools are the stdlib-only package tools/, run as modules from the repository root
# (nox runs every session in the noxfile's directory)
PIPELINE = ("-m", "tools.pipeline")

nox.options.default_venv_backend = "uv|virtualenv"
# uv installs bytecode only when asked: with PYTHONDONTWRITEBYTECODE set (as on this
# project's machines), every test process would otherwise compile scanpy's sources
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
# installs resolve under the known-good versions CI passed with (as ./noxw exports too;
# `python -m tools.envs lock` rewrites the file): a fresh clone must not get whatever
# PyPI has that day (dask 2026.11 beside distributed 2021.4 failed CI at import)
for _var in ("UV_CONSTRAINT", "PIP_CONSTRAINT"):
    os.environ.setdefault(_var, str(ROOT / "pins" / "constraints.txt"))
nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests"]


def _python312() -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "tools.envs", "python312"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else "3.12"


PY312 = _python312()


def _install_project(session: nox.Session, extras: str = "") -> None:
    """Install this project (not editable) and make sure the current code is used."""
    target = f".[{extras}]" if extras else "."
    if session.venv_backend == "uv":
        session.install("--reinstall-package", "scanpy-kernels", target)
    else:
        session.install(target)
        session.install("--no-deps", "--force-reinstall", ".")


def _pipeline(session: nox.Session, *args: str, posargs: bool = True) -> None:
    """Run ``python -m tools.pipeline`` (stdlib-only) in a small reused venv that holds uv.

    The session's arguments go to the pipeline unless ``posargs=False`` (sessions
    whose arguments are for another tool: speed, asv).
    """
    session.install("uv")  # a no-op when the reused venv already has it
    session.run("python", *PIPELINE, *args, *(session.posargs if posargs else ()))


def _pristine_scanpy(session: nox.Session) -> str:
    """Requirement for scanpy from the pinned, sha256-verified sdist (tools.sdist)."""
    # run_install: it also runs under `--install-only` (a plain run returns None there)
    out = session.run_install("python", "-m", "tools.sdist", "path", silent=True)
    path = out.strip().splitlines()[-1]
    return f"scanpy[skmisc] @ {Path(path).as_uri()}"


@nox.session(python=PY312)
def tests(session: nox.Session) -> None:
    """The test suite: tests/ (the kernel layer, and in test_tools.py the migration tooling)."""
    _install_project(session, "test")
    # tests/ compare kernels with pristine scanpy; tests/test_tools.py exercises tools/,
    # the case recorder/comparator of migration_tests/ and the ruff configuration patch
    session.install(_pristine_scanpy(session), "ruff==0.17.6")  # the version the tests pin down
    args = session.posargs or ["tests", "-n", "2"]
    session.run("pytest", *args)


@nox.session(python=PY312)
def verify(session: nox.Session) -> None:
    """The kernel verifier over scanpy_kernels (python -m scanpy_kernels.verify)."""
    _install_project(session)
    session.chdir(session.create_tmp())  # import the installed package, not ./
    session.run("python", "-m", "scanpy_kernels.verify", *session.posargs)


@nox.session(python=PY312)
def fork(session: nox.Session) -> None:
    """Build build/scanpy-fork from patches/ and install it into build/envs/patched."""
    _pipeline(session, "fork")


@nox.session(python=PY312)
def migration(session: nox.Session) -> None:
    """Golden outputs: run migration_tests cases pristine vs patched and compare."""
    _pipeline(session, "migration")


@nox.session(python=PY312)
def series(session: nox.Session) -> None:
    """Gate each prefix 1..N of the series: apply, install, verify, migrated cases."""
    _pipeline(session, "series")


@nox.session(name="scanpy-tests", python=PY312)
def scanpy_tests(session: nox.Session) -> None:
    """scanpy's own tests for what the series touches, pristine vs patched.

    Add families' test files with ``nox -s scanpy-tests -- --family hvg``.
    """
    _pipeline(session, "scanpy-tests")


@nox.session(python=PY312)
def main(session: nox.Session) -> None:
    """Build the fork, check equivalence, then benchmarks/speed.py --quick if present."""
    _pipeline(session, "main")


# --- benchmarks -------------------------------------------------------------------------

#: what the asv environments install, downloaded once into build/bench-wheels (PyPI);
#: asv runs are offline afterwards (PIP_NO_INDEX + PIP_FIND_LINKS)
ASV_WHEELHOUSE = (
    "scanpy==1.12.4", "scikit-misc", "hatchling", "hatch-vcs", "asv_runner", "build",
    "pympler", "pip", "wheel", "setuptools",
)


@nox.session(python=PY312)
def speed(session: nox.Session) -> None:
    """Speed report pristine vs patched: docs/performance.md (benchmarks/speed.py).

    ``nox -s speed`` is the full run (~15-25 min on 2 cores); ``nox -s speed -- --quick``
    a few minutes (report under build/bench-results/quick/). Other arguments go to
    speed.py (``--sizes S kang8684``, ``--sections pairs,probe``, ...).
    """
    _speed(session, *session.posargs)


def _speed(session: nox.Session, *args: str) -> None:
    """Build the fork's envs, then run benchmarks/speed.py on pristine vs patched."""
    _pipeline(session, "fork", posargs=False)
    patched = ROOT / "build" / "envs" / "patched" / "bin" / "python"
    pristine = ROOT / "build" / "envs" / "pristine" / "bin" / "python"
    # speed.py needs numpy, scipy, matplotlib and tqdm: scanpy's env has them all
    session.run(
        str(patched), str(ROOT / "benchmarks" / "speed.py"),
        "--pristine-python", str(pristine), "--patched-python", str(patched),
        *args, external=True,
    )


@nox.session(python=PY312)
def defaults(session: nox.Session) -> None:
    """The default-settings rule, measured: pristine vs patched with ``n_jobs`` never set.

    S (10,000 x 5,000 CSR), 3 alternated process pairs, ``NUMBA_NUM_THREADS=2``; fails if
    a case is slower than pristine or keeps fewer threads busy (CPU seconds per wall
    second, median of the pairs). Report: build/bench-results/defaults/performance.md.
    """
    _speed(
        session, "--sizes", "S", "--formats", "csr", "--sections", "defaults", "--pairs", "3",
        "--out", str(ROOT / "build" / "bench-results" / "defaults" / "performance.md"),
        "--check-defaults", *session.posargs,
    )


@nox.session(name="asv", python=PY312)
def asv_session(session: nox.Session) -> None:
    """asv over the fork's commits (pristine sdist, then one commit per patch).

    Default: ``asv continuous`` pristine sdist vs main on dataset S. Arguments go to
    asv, e.g. ``nox -s asv -- run -e scanpy-1.12.4-sdist..main`` or
    ``nox -s asv -- compare scanpy-1.12.4-sdist main``. SCANPY_BENCH_DATASETS
    (default S) picks the datasets: S, M, kang8684, kang1556, harmony2000, 10x10k.
    """
    _pipeline(session, "fork", posargs=False)
    session.install("asv==0.6.6", "virtualenv", "pip", "numpy", "scipy")
    wheels = ROOT / "build" / "bench-wheels"
    stamp = wheels / ".complete"
    if not stamp.exists():  # the only networked step
        session.run("python", "-m", "pip", "download", "-q", "-d", str(wheels), *ASV_WHEELHOUSE)
        stamp.write_text("\n".join(ASV_WHEELHOUSE) + "\n")
    datasets = os.environ.get("SCANPY_BENCH_DATASETS", "S")
    session.run("python", str(ROOT / "benchmarks" / "_data.py"), *datasets.split(","))
    py_dir = str(Path(PY312).parent) if Path(PY312).is_absolute() else ""
    env = {
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "SCANPY_BENCH_DATASETS": datasets,
        # asv's virtualenv plugin looks for `python3.12` on PATH
        "PATH": os.pathsep.join(p for p in (py_dir, os.environ.get("PATH", "")) if p),
    }
    session.chdir(str(ROOT))
    session.run("asv", "machine", "--yes", env=env)
    args = session.posargs or [
        "continuous", "-e", "--factor", "1.1", "scanpy-1.12.4-sdist", "main",
    ]
    session.run("asv", *args, env=env)
