"""Generate patch 0001 of the series: vendor ``scanpy_kernels/`` as ``scanpy._kernels``.

In a scratch clone of the pristine sdist (see tools/pristine.py) this

1. copies ``scanpy_kernels/`` to ``src/scanpy/_kernels/`` (sources and package data;
   no caches or editor droppings),
2. adds one ruff ``per-file-ignores`` entry for that path, and only that path, to
   scanpy's ``pyproject.toml`` (:data:`KERNEL_RUFF_IGNORES`: raw ``numba.njit``, and
   the C-style kernels' long positional argument lists),
3. adds a towncrier fragment ``docs/release-notes/<pr>.perf.md``,
4. commits as the bot at the pinned date and ``git format-patch``-es the commit.

It refuses a vendored tree that imports a third-party module scanpy does not
already depend on, or that imports ``scanpy_kernels`` absolutely (the package is
copied verbatim, so it must use relative imports), and checks that scanpy's
dependency tables are untouched.

Usage::

    python -m tools.vendor            # regenerate patches/0001-*.patch (+ series)
    python -m tools.vendor --check    # exit 1 if the committed patch is stale
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import re
import shutil
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from . import pristine
from ._common import (
    FORMAT_PATCH_FLAGS,
    PACKAGE_DIR,
    PATCHES_DIR,
    Pins,
    ToolError,
    bot_env,
    git,
    load_pins,
    log,
)
from .series import SERIES_NAME, patch_diff, write_series

SUBJECT = "Vendor scanpy-kernels as scanpy._kernels"
EXCLUDED_DIRS = ("__pycache__", ".*", "*.egg-info", "build", "dist")
EXCLUDED_FILES = (".*", "*.pyc", "*.pyo", "*.nbi", "*.nbc", "*.so", "*~", "*.swp")
EXCLUDED_FILES += ("*.orig", "*.rej", "*.tmp")
RUFF_ANCHOR = 'lint.per-file-ignores."benchmarks/**/*.py"'
# Rules of scanpy's ruff config that vendored code does not follow, ignored for the
# vendored path only; the reasons become the entry's comment in scanpy's pyproject.
# Everything else of scanpy's config applies to scanpy_kernels/ as it is:
# tests/test_tools.py lints and format-checks it in a scanpy tree with
# exactly this entry. (scanpy marks its own numba kernel get/_aggregated.py
# `_chan_combine` with `noqa: PLR0917` for the same reason.)
KERNEL_RUFF_IGNORES: dict[str, str] = {
    "PLR0913": "numba kernels and their helpers take each input and output array as a parameter",
    "PLR0917": "kernels are called positionally, C-style, in the order of their numba signatures",
    "TID251": "raw `numba.njit` is intended there (and only there)",
}


# --- 1. copying -----------------------------------------------------------------


def package_files(package: Path = PACKAGE_DIR) -> list[Path]:
    """Files of the package to vendor, relative to it, in a stable order."""
    if not package.is_dir():
        msg = f"{package} does not exist"
        raise ToolError(msg)
    files: list[Path] = []
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(package)
        if any(fnmatch.fnmatch(part, pat) for part in rel.parts[:-1] for pat in EXCLUDED_DIRS):
            continue
        if path.is_dir() or any(fnmatch.fnmatch(rel.name, p) for p in EXCLUDED_FILES):
            continue
        if path.is_symlink():
            msg = f"{path} is a symlink; vendored files must be regular files"
            raise ToolError(msg)
        files.append(rel)
    if not any(f.suffix == ".py" for f in files):
        msg = f"{package} contains no Python files"
        raise ToolError(msg)
    return files


def package_version(package: Path = PACKAGE_DIR) -> str:
    m = re.search(
        r"""^__version__\s*=\s*["']([^"']+)["']""",
        (package / "_version.py").read_text(),
        re.M,
    )
    return m.group(1) if m else "unknown"


# --- 2. import policy -----------------------------------------------------------


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether an import is optional (try/except ImportError) or typing-only."""
    child, cur = node, parents.get(node)
    while cur is not None:
        if isinstance(cur, ast.If) and "TYPE_CHECKING" in ast.unparse(cur.test):
            return True
        if isinstance(cur, ast.Try) and child in cur.body:
            names = {ast.unparse(h.type) for h in cur.handlers if h.type is not None}
            if names & {"ImportError", "ModuleNotFoundError"} or any(
                "ImportError" in n or "ModuleNotFoundError" in n for n in names
            ):
                return True
        child, cur = cur, parents.get(cur)
    return False


def import_violations(package: Path, files: list[Path], allowed: tuple[str, ...]) -> list[str]:
    ok = set(allowed) | set(sys.stdlib_module_names) | {"__future__"}
    problems: list[str] = []
    for rel in files:
        if rel.suffix != ".py":
            continue
        tree = ast.parse((package / rel).read_text(encoding="utf-8"), str(rel))
        parents = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                where = f"scanpy_kernels/{rel}:{node.lineno}"
                if top == "scanpy_kernels":
                    problems.append(
                        f"{where}: absolute import of {mod!r} breaks when vendored "
                        "as scanpy._kernels; use a relative import"
                    )
                elif top not in ok and not _guarded(node, parents):
                    problems.append(
                        f"{where}: imports {top!r}, which scanpy does not depend on "
                        f"(allowed: {', '.join(allowed)}); make it optional or drop it"
                    )
    return problems


# --- 3. scanpy pyproject edit ---------------------------------------------------


def _ruff_key(target: str) -> str:
    return f"{target}/**"


def _ruff_entry(target: str) -> list[str]:
    """The comment lines and the per-file-ignores line that vendoring adds."""
    codes = sorted(KERNEL_RUFF_IGNORES)
    comment = [
        "# Vendored scanpy-kernels, there only:\n",
        *(f"# {code}: {KERNEL_RUFF_IGNORES[code]}\n" for code in codes),
    ]
    listed = ", ".join(f'"{code}"' for code in codes)
    return [*comment, f'lint.per-file-ignores."{_ruff_key(target)}" = [ {listed} ]\n']


def edit_pyproject(text: str, target: str) -> str:
    """Add the per-file ignores of :data:`KERNEL_RUFF_IGNORES` for ``target``, nothing else."""
    lines = text.splitlines(keepends=True)
    idx = next((i for i, ln in enumerate(lines) if ln.startswith(RUFF_ANCHOR)), None)
    if idx is None:
        msg = f"cannot find the ruff per-file-ignores anchor {RUFF_ANCHOR!r}"
        raise ToolError(msg)
    new = "".join([*lines[: idx + 1], *_ruff_entry(target), *lines[idx + 1 :]])
    check_pyproject_edit(text, new, target)
    return new


def check_pyproject_edit(old_text: str, new_text: str, target: str) -> None:
    """The edit must add exactly one per-file ignore; deps/other lint unchanged."""
    old, new = tomllib.loads(old_text), tomllib.loads(new_text)
    key = _ruff_key(target)
    pfi: dict[str, Any] = new["tool"]["ruff"]["lint"]["per-file-ignores"]
    want = sorted(KERNEL_RUFF_IGNORES)
    if pfi.get(key) != want:
        msg = f"pyproject edit did not add per-file-ignores[{key!r}] = {want}"
        raise ToolError(msg)
    del pfi[key]
    if old != new:
        msg = "pyproject edit changed more than the _kernels per-file ignore"
        raise ToolError(msg)


# --- 4. fragment, commit, format-patch ------------------------------------------


def fragment_path(p: Pins) -> str:
    name = f"{p.pr}.perf.md" if p.pr > 0 else "+scanpy-kernels.perf.md"
    return f"docs/release-notes/{name}"


def fragment_text(version: str) -> str:
    return (
        f"Add `scanpy._kernels`, parallel and verified Numba kernels vendored from "
        f"scanpy-kernels {version}, for the functions that dispatch to them "
        "{smaller}`scanpy-kernels`\n"
    )


def commit_message(p: Pins, version: str, files: list[Path]) -> str:
    return f"""{SUBJECT}

Copy the scanpy-kernels package (version {version}, {len(files)} files)
verbatim into {p.vendor_target}/. Its code imports only the standard
library, {", ".join(p.allowed_imports)}, which scanpy already depends on,
so no runtime dependency is added. Nothing dispatches to the kernels yet;
later patches of the series do.

- pyproject.toml: in {p.vendor_target}/** only, allow raw numba (TID251)
  and the C-style kernels' many positional array arguments (PLR0913,
  PLR0917); these rules stay in force for the rest of scanpy. The
  vendored code passes scanpy's ruff check and ruff format otherwise.
- {fragment_path(p)}: towncrier fragment.

Generated by tools/vendor.py from scanpy-kernels; do not edit by hand.

Vendored-From: scanpy-kernels {version}
"""


def stage(repo: Path, p: Pins, *, package: Path = PACKAGE_DIR) -> list[Path]:
    """Vendor ``package`` into the scanpy tree ``repo`` (steps 1 and 2); return its files.

    Copies the package to ``p.vendor_target`` and adds the per-file ignores to
    ``pyproject.toml``; commits nothing.
    """
    files = package_files(package)
    dest = repo / p.vendor_target
    if dest.exists():
        msg = f"{p.vendor_target} already exists in the pristine sdist"
        raise ToolError(msg)
    for rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / rel, dest / rel)
    pyproject = repo / "pyproject.toml"
    pyproject.write_text(edit_pyproject(pyproject.read_text(), p.vendor_target))
    return files


def generate(out_dir: Path, *, package: Path = PACKAGE_DIR) -> Path:
    """Write the vendoring patch into ``out_dir`` and return its path."""
    p = load_pins()
    files = package_files(package)
    if problems := import_violations(package, files, p.allowed_imports):
        raise ToolError("vendored code violates the import policy:\n  " + "\n  ".join(problems))
    version = package_version(package)
    env = bot_env(p)
    with tempfile.TemporaryDirectory(prefix="vendor-") as tmp:
        repo = Path(tmp) / "scanpy"
        pristine.create(repo, p)
        files = stage(repo, p, package=package)
        frag = repo / fragment_path(p)
        frag.write_text(fragment_text(version))
        git(
            repo,
            "add",
            "--all",
            "--force",
            p.vendor_target,
            "pyproject.toml",
            str(frag.relative_to(repo)),
            env=env,
        )
        git(
            repo,
            "commit",
            "--quiet",
            "--no-verify",
            "-m",
            commit_message(p, version, files),
            env=env,
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        name = git(
            repo,
            "format-patch",
            *FORMAT_PATCH_FLAGS,
            "--start-number=1",
            "-o",
            str(out_dir),
            "-1",
            env=env,
        ).stdout.strip()
    return Path(name)


def _committed_vendor_patch(patches_dir: Path) -> Path | None:
    found = sorted(patches_dir.glob("0001-*.patch"))
    return found[0] if found else None


def install(generated: Path, patches_dir: Path = PATCHES_DIR) -> Path:
    """Put the generated patch into ``patches_dir`` as 0001 and update ``series``."""
    patches_dir.mkdir(parents=True, exist_ok=True)
    for old in patches_dir.glob("0001-*.patch"):
        old.unlink()
    target = patches_dir / generated.name
    shutil.copyfile(generated, target)
    series_file = patches_dir / SERIES_NAME
    names = []
    if series_file.exists():
        names = [
            ln.strip()
            for ln in series_file.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")
        ]
    names = [target.name, *(n for n in names if not n.startswith("0001-"))]
    write_series(patches_dir, names)
    return target


def check(patches_dir: Path = PATCHES_DIR, *, package: Path = PACKAGE_DIR) -> int:
    committed = _committed_vendor_patch(patches_dir)
    if committed is None:
        log(f"STALE: no 0001-*.patch in {patches_dir}; run python -m tools.vendor")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp), package=package)
        diff = patch_diff(
            committed.read_text(encoding="utf-8"),
            fresh.read_text(encoding="utf-8"),
            f"committed/{committed.name}",
            f"regenerated/{fresh.name}",
        )
        renamed = fresh.name != committed.name
    if diff or renamed:
        lines = diff.splitlines()
        log(f"STALE: {committed} does not match scanpy_kernels/ (run python -m tools.vendor)")
        if renamed:
            log(f"  file name would now be {fresh.name}")
        log(
            "\n".join(lines[:200])
            + (f"\n... ({len(lines) - 200} more lines)" if len(lines) > 200 else "")
        )
        return 1
    log(f"up to date: {committed}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if patch 0001 is stale")
    parser.add_argument("--patches", type=Path, default=PATCHES_DIR)
    args = parser.parse_args(argv)
    try:
        if args.check:
            return check(args.patches)
        with tempfile.TemporaryDirectory() as tmp:
            target = install(generate(Path(tmp)), args.patches)
        log(f"wrote {target}")
    except ToolError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
