"""Find the kernels to verify: in modules, packages or ``.py`` files."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pkgutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..toolkit import Kernel

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["discover", "kernels_in"]


def _load_path(path: Path) -> ModuleType:
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    name = f"_verify_target_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        msg = f"cannot import {path}"
        raise ImportError(msg)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # numba needs the module to be importable by name
    spec.loader.exec_module(mod)
    return mod


def _modules(target: str) -> list[ModuleType]:
    if target.endswith(".py") or Path(target).is_file():
        return [_load_path(Path(target))]
    mod = importlib.import_module(target)
    mods = [mod]
    if hasattr(mod, "__path__"):  # a package: every submodule except the verifier's own
        verifier = __package__
        for info in pkgutil.walk_packages(mod.__path__, prefix=f"{mod.__name__}."):
            if info.name == verifier or info.name.startswith(f"{verifier}."):
                continue
            mods.append(importlib.import_module(info.name))
    return mods


def kernels_in(mod: ModuleType) -> dict[str, Kernel]:
    """Kernels defined (not merely imported) in ``mod``."""
    return {
        f"{mod.__name__}.{name}": obj
        for name, obj in vars(mod).items()
        if isinstance(obj, Kernel) and obj.__module__ == mod.__name__
    }


def discover(targets: list[str]) -> dict[str, Kernel]:
    """All kernels in ``targets`` (module names, packages or ``.py`` paths)."""
    found: dict[str, Kernel] = {}
    for target in targets:
        for mod in _modules(target):
            found.update(kernels_in(mod))
    return found
