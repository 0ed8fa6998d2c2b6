"""The examples in the kernel layer's docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import scanpy_kernels

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(scanpy_kernels.__path__, "scanpy_kernels.")
    if not m.name.endswith("__main__")  # the verifier's command line
)


def test_modules_found():
    assert {"scanpy_kernels._input", "scanpy_kernels.normalize.drivers"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed"
