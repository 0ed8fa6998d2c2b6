"""The two virtual environments the migration pipeline compares.

``build/envs/pristine``: scanpy from the verified pinned sdist, plus what the
cases need (scikit-misc for seurat_v3; statsmodels comes with scanpy).
``build/envs/patched``: the very same dependencies, then scanpy replaced by the
fork built from ``patches/`` (``--no-deps``), versioned ``<pin>+kernels.<n>.g<id>``.

Both are created with Python 3.12 (see :func:`python312`) and reused: each install
step leaves a stamp in the venv and is skipped while its stamp matches, so
sessions share the environments and re-running is cheap. ``--test-deps`` adds
scanpy's ``test`` dependency group (dask, zarr, pytest plugins, …) read from the
sdist's own ``pyproject.toml``.

Usage::

    python -m tools.envs ensure [--test-deps]
    python -m tools.envs install-fork [--fork build/scanpy-fork]
    python -m tools.envs python {pristine|patched}
    python -m tools.envs python312     # the Python 3.12 noxw, .ci/run and nox use
    python -m tools.envs lock          # rewrite pins/constraints.txt from the envs

Every install here, in nox's sessions and in noxw runs under ``pins/constraints.txt``
(``-c``; noxw exports ``UV_CONSTRAINT``/``PIP_CONSTRAINT``): the versions of a
known-good set of environments. Without it a fresh clone resolves whatever PyPI
has that day, e.g. dask 2026.11.0 beside distributed 2021.4.1 (the newest distributed
without an upper bound on dask), which fails at import. ``lock`` writes the union of
the project's environments' ``uv pip freeze`` (refusing two versions of one package).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import sdist
from ._common import BUILD_DIR, CONSTRAINTS_FILE, REPO_ROOT, ToolError, git, load_pins, log, run

ENVS_DIR = BUILD_DIR / "envs"
DEFAULT_FORK = BUILD_DIR / "scanpy-fork"
BUILD_REQS = ("hatchling", "hatch-vcs")
# extras the migration cases need on top of scanpy's own dependencies
CASE_EXTRAS = ("skmisc",)
PY_ENV = "SCANPY_KERNELS_PYTHON"


def _pyenv_312() -> list[str]:
    """pyenv's Python 3.12.x interpreters, newest first (none without pyenv)."""
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return []
    versions = run([pyenv, "versions", "--bare"], check=False).stdout.split()
    found = []
    for v in sorted(
        (v for v in versions if re.fullmatch(r"3\.12\.\d+", v)),
        key=lambda v: tuple(map(int, v.split("."))),
        reverse=True,
    ):
        proc = run([pyenv, "which", "python3.12"], env={"PYENV_VERSION": v}, check=False)
        if proc.returncode == 0:
            found.append(proc.stdout.strip())
    return found


def _real_312(exe: str) -> str | None:
    """``exe``'s ``sys.executable`` if it runs and is Python 3.12, else None."""
    probe = "import sys; print(sys.version_info[:2] == (3, 12), sys.executable)"
    try:
        proc = run([exe, "-c", probe], check=False)
    except OSError:  # not there, not executable
        return None
    ok, _, real = proc.stdout.strip().partition(" ")
    return real if proc.returncode == 0 and ok == "True" else None


def python312() -> str:
    """The project's one Python 3.12 finder (noxw, .ci/run and noxfile.py call it).

    ``$SCANPY_KERNELS_PYTHON`` wins (an error if it is not a working 3.12), then a
    working ``python3.12`` on PATH (a pyenv shim that does not resolve to 3.12 is
    skipped), then pyenv's newest installed 3.12.x. Prints ``sys.executable`` of the
    chosen interpreter, so the result works without pyenv's environment.
    """
    if explicit := os.environ.get(PY_ENV):
        if real := _real_312(explicit):
            return real
        msg = f"{PY_ENV}={explicit} is not a working Python 3.12"
        raise ToolError(msg)
    on_path = shutil.which("python3.12")
    for exe in [*([on_path] if on_path else []), *_pyenv_312()]:
        if real := _real_312(exe):
            return real
    msg = (
        f"no Python 3.12 found: set {PY_ENV}, put python3.12 on PATH, "
        "or install it with pyenv (pyenv install 3.12)"
    )
    raise ToolError(msg)


# --- scanpy's declared dependencies ------------------------------------------------


def _sdist_pyproject() -> dict[str, Any]:
    pins = load_pins()
    path = sdist.verified_path(pins)
    prefix = pins.sdist.removesuffix(".tar.gz")
    with tarfile.open(path) as tf:
        member = tf.extractfile(f"{prefix}/pyproject.toml")
        if member is None:
            msg = f"{path} has no pyproject.toml"
            raise ToolError(msg)
        return tomllib.loads(member.read().decode())


def _expand(req: str, extras: dict[str, list[str]], seen: set[str]) -> list[str]:
    """Expand ``scanpy[a,b]`` self-references into the extras' requirements."""
    m = re.fullmatch(r"scanpy\[([^\]]+)\]", req.replace(" ", ""))
    if not m:
        return [req]
    out: list[str] = []
    for extra in m.group(1).split(","):
        if extra in seen:
            continue
        seen.add(extra)
        for r in extras.get(extra, []):
            out.extend(_expand(r, extras, seen))
    return out


def scanpy_requirements(group: str | None = None, extras: tuple[str, ...] = ()) -> list[str]:
    """Requirements of scanpy's dependency ``group`` and/or ``extras`` (no scanpy)."""
    data = _sdist_pyproject()
    opt: dict[str, list[str]] = data["project"].get("optional-dependencies", {})
    groups: dict[str, list[Any]] = data.get("dependency-groups", {})
    seen: set[str] = set()
    reqs: list[str] = []
    for extra in extras:
        reqs.extend(_expand(f"scanpy[{extra}]", opt, seen))

    def walk(name: str, visited: set[str]) -> None:
        if name in visited:
            return
        visited.add(name)
        for item in groups[name]:
            if isinstance(item, dict):
                walk(item["include-group"], visited)
            else:
                reqs.extend(_expand(item, opt, seen))

    if group:
        walk(group, set())
    return list(dict.fromkeys(reqs))


# --- venvs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Venv:
    name: str

    @property
    def path(self) -> Path:
        return ENVS_DIR / self.name

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def _stamps(self) -> Path:
        return self.path / "scanpy-kernels-stamps.json"

    def stamps(self) -> dict[str, str]:
        return json.loads(self._stamps.read_text()) if self._stamps.exists() else {}

    def has(self, step: str, key: str) -> bool:
        return self.stamps().get(step) == key

    def mark(self, step: str, key: str) -> None:
        stamps = self.stamps()
        stamps[step] = key
        self._stamps.write_text(json.dumps(stamps, indent=1, sort_keys=True))

    def ensure(self) -> None:
        ok = (
            self.python.exists()
            and run(
                [
                    self.python,
                    "-c",
                    "import sys; assert sys.version_info[:2] == (3, 12)",
                ],
                check=False,
            ).returncode
            == 0
        )
        if ok:
            return
        if self.path.exists():
            shutil.rmtree(self.path)
        log(f"creating venv {self.path}")
        if uv := uv_exe():
            run([uv, "venv", "--quiet", "--python", python312(), str(self.path)])
        else:
            run([python312(), "-m", "venv", str(self.path)])

    def install(
        self,
        *reqs: str,
        no_deps: bool = False,
        reinstall: bool = False,
        no_build_isolation: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        """Install ``reqs`` with uv (when available) or pip; output goes to a log."""
        if uv := uv_exe():
            # bytecode at install time, as pip does: with PYTHONDONTWRITEBYTECODE set
            # (as on this project's machines) every process would compile scanpy's,
            # pandas' ... sources again at import (~7 s per process here)
            cmd = [uv, "pip", "install", "--compile-bytecode", "--python", str(self.python)]
            cmd += ["--reinstall", "--no-cache"] if reinstall else []
        else:
            cmd = [
                str(self.python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
            ]
            cmd += ["--force-reinstall"] if reinstall else []
        cmd += ["--no-deps"] if no_deps else []
        cmd += ["-c", str(CONSTRAINTS_FILE)] if CONSTRAINTS_FILE.exists() else []
        cmd += ["--no-build-isolation"] if no_build_isolation else []
        cmd += list(reqs)
        log(f"[{self.name}] $ " + " ".join(cmd))
        logfile = self.path / "install.log"
        with logfile.open("a") as f:
            f.write("$ " + " ".join(cmd) + "\n")
            f.flush()
            proc = subprocess.run(
                cmd,
                env={**os.environ, **(env or {})},
                stdout=f,
                stderr=subprocess.STDOUT,
                check=False,
            )
        if proc.returncode != 0:
            tail = "\n".join(logfile.read_text().splitlines()[-40:])
            msg = f"install failed in {self.path} ({proc.returncode}); {logfile}:\n{tail}"
            raise ToolError(msg)

    def step(self, step: str, key: str, *reqs: str, **kw: Any) -> None:
        """``install(*reqs)`` unless the stamp for ``step`` already equals ``key``."""
        if self.has(step, key):
            return
        self.install(*reqs, **kw)
        self.mark(step, key)


def uv_exe() -> str | None:
    """uv next to this interpreter or on PATH (much faster than pip); None: use pip."""
    if os.environ.get("SCANPY_KERNELS_NO_UV"):
        return None
    local = Path(sys.executable).parent / "uv"
    return str(local) if local.exists() else shutil.which("uv")


PRISTINE, PATCHED = Venv("pristine"), Venv("patched")


def key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def ensure_base(env: Venv, *, test_deps: bool = False) -> None:
    """Create ``env`` with pristine scanpy (+ case extras, + test deps if asked)."""
    pins = load_pins()
    env.ensure()
    env.step("build-reqs", key(BUILD_REQS), *BUILD_REQS)
    path = sdist.verified_path(pins)
    extras = ",".join(CASE_EXTRAS)
    req = f"scanpy[{extras}] @ {path.as_uri()}"
    env.step("scanpy", key(pins.sha256, CASE_EXTRAS), req, no_build_isolation=True)
    if test_deps:
        reqs = scanpy_requirements("test")
        env.step("test-deps", key(pins.sha256, reqs), *reqs)


def installed_scanpy(env: Venv) -> str:
    proc = run(
        [
            env.python,
            "-c",
            "from importlib.metadata import version; print(version('scanpy'))",
        ],
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def install_fork(fork: Path = DEFAULT_FORK, env: Venv = PATCHED) -> str:
    """Install the fork's HEAD into ``env`` (no deps); return the installed version.

    ``env`` is created first if needed, with pristine scanpy's dependencies.
    """
    pins = load_pins()
    if not (fork / ".git").exists():
        msg = f"{fork} is not a fork checkout; run python -m tools.fork build first"
        raise ToolError(msg)
    ensure_base(env)
    head = git(fork, "rev-parse", "HEAD").stdout.strip()
    n = int(git(fork, "rev-list", "--count", f"{pins.base_tag}..HEAD").stdout.strip())
    version = f"{pins.version}+kernels.{n}.g{head[:10]}"
    if env.has("fork", head) and installed_scanpy(env) == version:
        log(f"{env.name}: fork {version} already installed")
        return version
    with tempfile.TemporaryDirectory(prefix="fork-src-") as tmp:
        # install exactly the committed tree; without PKG-INFO so that hatch-vcs
        # takes the pretend version instead of the sdist's metadata version
        archive = Path(tmp) / "src.tar"
        git(fork, "archive", "--format=tar", "-o", str(archive), "HEAD")
        src = Path(tmp) / "scanpy"
        src.mkdir()
        with tarfile.open(archive) as tf:
            tf.extractall(src, filter="fully_trusted")
        (src / "PKG-INFO").unlink(missing_ok=True)
        env.install(
            str(src),
            no_deps=True,
            reinstall=True,
            no_build_isolation=True,
            env={"SETUPTOOLS_SCM_PRETEND_VERSION": version},
        )
    env.mark("fork", head)
    got = installed_scanpy(env)
    if got != version:
        msg = f"installed scanpy is {got!r}, expected {version!r}"
        raise ToolError(msg)
    log(f"{env.name}: installed fork {version}")
    return version


def lock(out: Path = CONSTRAINTS_FILE) -> int:
    """Write the union of the project's environments' pinned versions to ``out``.

    The environments: ``build/envs/*`` and nox's ``.nox/*`` (made by ``./noxw``).
    Local packages (``name @ file://…``: scanpy, scanpy-kernels) are left out.
    Returns the number of packages written.
    """
    uv = uv_exe()
    if uv is None:
        msg = "lock needs uv (./noxw installs it into .nox/_noxw)"
        raise ToolError(msg)
    pins: dict[str, set[str]] = {}
    pythons = sorted(ENVS_DIR.glob("*/bin/python")) + sorted(
        (REPO_ROOT / ".nox").glob("*/bin/python")
    )
    for python in pythons:
        freeze = run([uv, "pip", "freeze", "--python", str(python)]).stdout
        for line in freeze.splitlines():
            name, sep, version = line.partition("==")
            if sep and " @ " not in line:
                pins.setdefault(name.lower(), set()).add(version)
    clashes = {n: sorted(v) for n, v in pins.items() if len(v) > 1}
    if clashes:
        msg = f"environments disagree on versions: {clashes}; recreate the stale ones"
        raise ToolError(msg)
    header = (
        "# Versions every environment of this project resolves under (uv/pip -c).\n"
        "# Generated by `python -m tools.envs lock` from the environments that passed\n"
        "# .ci/run; refresh it on purpose (lock, then rerun .ci/run), never by hand.\n"
    )
    body = "".join(f"{n}=={v.pop()}\n" for n, v in sorted(pins.items()))
    out.write_text(header + body)
    return len(pins)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("ensure", help="create/update both environments")
    e.add_argument("--test-deps", action="store_true")
    f = sub.add_parser("install-fork", help="install the built fork into the patched env")
    f.add_argument("--fork", type=Path, default=DEFAULT_FORK)
    p = sub.add_parser("python", help="print an environment's interpreter")
    p.add_argument("name", choices=["pristine", "patched"])
    sub.add_parser("python312", help="print the Python 3.12 interpreter used")
    sub.add_parser("lock", help="rewrite pins/constraints.txt from the environments")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "ensure":
            for env in (PRISTINE, PATCHED):
                ensure_base(env, test_deps=args.test_deps)
        elif args.cmd == "install-fork":
            ensure_base(PATCHED)
            print(install_fork(args.fork))
        elif args.cmd == "python":
            print(Venv(args.name).python)
        elif args.cmd == "lock":
            log(f"{CONSTRAINTS_FILE}: {lock()} packages")
        else:
            print(python312())
    except ToolError as err:
        log(f"error: {err}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
