from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent
# test_tools.py imports the repository's packages tools/ and migration_tests/: the root
# goes last on sys.path (pytest runs in importlib mode and adds nothing), so the
# scanpy_kernels under test stays the installed one where there is one (nox)
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))


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
