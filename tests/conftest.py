from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def load_path(path: Path):
    """Import a kernels file by path (as the verifier CLI does)."""
    name = f"_test_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def bad_kernels():
    return load_path(HERE / "kernels" / "bad_kernels.py")


@pytest.fixture(scope="session")
def good_kernels():
    return load_path(HERE / "kernels" / "good_kernels.py")
