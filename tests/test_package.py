"""The package vendors verbatim as scanpy._kernels: relative imports, numpy/scipy/numba only."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).parents[1] / "scanpy_kernels"
ALLOWED = {"numpy", "scipy", "numba", "llvmlite"}  # llvmlite comes with numba
FILES = sorted(PKG.rglob("*.py"))


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, node.module or "", node.level


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_are_relative_or_allowed(path):
    for line, module, level in _imports(path):
        if level:  # relative
            continue
        top = module.split(".")[0]
        assert top != "scanpy_kernels", f"{path}:{line}: absolute self-import breaks vendoring"
        assert top in sys.stdlib_module_names or top in ALLOWED, f"{path}:{line}: imports {module}"


def test_importable_under_another_parent(tmp_path):
    """Copy the package to parent/_kernels and import it from there, as scanpy will."""
    import shutil
    import subprocess

    parent = tmp_path / "fakescanpy"
    shutil.copytree(PKG, parent / "_kernels", ignore=shutil.ignore_patterns("__pycache__"))
    (parent / "__init__.py").write_text("")
    code = "import fakescanpy._kernels as k, fakescanpy._kernels.toolkit, fakescanpy._kernels.hvg; print(k.__version__)"
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert res.returncode == 0, res.stderr
    assert "scanpy_kernels" not in res.stderr
