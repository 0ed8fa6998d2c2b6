"""Map the files a series touches to scanpy's own test files; compare junit results.

``test_files()`` turns touched paths (``src/scanpy/...``) and migrated families into
the sdist's ``tests/test_*.py`` files that exercise them. ``outcomes()`` reads a
pytest junit XML file; ``worse()`` lists the tests whose patched outcome is worse
than the pristine one (a missing test counts as worse, a new test must pass).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

# touched source path (glob-free prefix match) -> scanpy test files
SOURCE_TESTS: dict[str, tuple[str, ...]] = {
    "src/scanpy/preprocessing/_highly_variable_genes.py": ("tests/test_highly_variable_genes.py",),
    "src/scanpy/experimental/pp/_highly_variable_genes.py": (
        "tests/test_highly_variable_genes.py",
        "tests/test_normalization.py",
    ),
    "src/scanpy/tools/_rank_genes_groups.py": (
        "tests/test_rank_genes_groups.py",
        "tests/test_rank_genes_groups_logreg.py",
        "tests/test_filter_rank_genes_groups.py",
    ),
    "src/scanpy/preprocessing/_qc.py": ("tests/test_qc_metrics.py",),
    "src/scanpy/metrics/": ("tests/test_metrics.py",),
    "src/scanpy/get/": ("tests/test_aggregated.py",),
    "src/scanpy/_utils/__init__.py": ("tests/test_utils.py",),
    "src/scanpy/_kernels/": ("tests/test_package_structure.py",),
    "src/scanpy/__init__.py": ("tests/test_package_structure.py",),
    "pyproject.toml": ("tests/test_package_structure.py",),
}
# family (Migrates: trailer) -> scanpy test files
FAMILY_TESTS: dict[str, tuple[str, ...]] = {
    "aggregate": ("tests/test_aggregated.py",),
    "filter": ("tests/test_preprocessing.py", "tests/test_preprocessing_distributed.py"),
    "hvg": ("tests/test_highly_variable_genes.py", "tests/test_normalization.py"),
    "metrics": ("tests/test_metrics.py",),
    "normalize": ("tests/test_normalization.py",),
    "regress": ("tests/test_preprocessing.py",),
    "scale": ("tests/test_scaling.py", "tests/test_preprocessing.py"),
    "qc": ("tests/test_qc_metrics.py",),
    "rank_genes_groups": (
        "tests/test_rank_genes_groups.py",
        "tests/test_rank_genes_groups_logreg.py",
        "tests/test_filter_rank_genes_groups.py",
    ),
}


def test_files(touched: list[str], families: list[str], tree: Path) -> list[str]:
    """Existing test files (relative to ``tree``) for ``touched`` and ``families``."""
    wanted: list[str] = []
    for path in touched:
        if re.fullmatch(r"tests/(.+/)?test_[^/]+\.py", path):
            wanted.append(path)
            continue
        mapped = [tests for src, tests in SOURCE_TESTS.items() if path.startswith(src)]
        for tests in mapped:
            wanted.extend(tests)
        if not mapped and path.startswith("src/scanpy/") and path.endswith(".py"):
            stem = Path(path).stem.lstrip("_")
            wanted.append(f"tests/test_{stem}.py")
    for fam in families:
        wanted.extend(FAMILY_TESTS.get(fam, ()))
    return [t for t in dict.fromkeys(wanted) if (tree / t).is_file()]


# --- junit ---------------------------------------------------------------------------

RANK = {"passed": 3, "xfailed": 2, "skipped": 2, "failed": 0, "error": 0}


def outcomes(junit: Path) -> dict[str, str]:
    """``{test id: passed|failed|error|skipped|xfailed}`` from a pytest junit file."""
    result: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        test_id = f"{case.get('file') or case.get('classname')}::{case.get('name')}"
        children = {child.tag: child for child in case}
        if "error" in children:
            outcome = "error"
        elif "failure" in children:
            outcome = "failed"
        elif "skipped" in children:
            kind = children["skipped"].get("type", "")
            outcome = "xfailed" if "xfail" in kind else "skipped"
        else:
            outcome = "passed"
        # a test can report both a failure and a teardown error: keep the worst
        prev = result.get(test_id)
        if prev is None or RANK[outcome] < RANK[prev]:
            result[test_id] = outcome
    return result


def tally(res: dict[str, str]) -> str:
    counts = Counter(res.values())
    return ", ".join(f"{counts[k]} {k}" for k in RANK if counts[k]) or "no tests"


def worse(pristine: dict[str, str], patched: dict[str, str]) -> list[tuple[str, str, str]]:
    """(test, pristine outcome, patched outcome) for every regression."""
    bad = []
    for test in sorted(set(pristine) | set(patched)):
        a, b = pristine.get(test, "absent"), patched.get(test, "absent")
        if b == "absent" or (a == "absent" and RANK[b] < RANK["xfailed"]):
            bad.append((test, a, b))
        elif a != "absent" and RANK[b] < RANK[a]:
            bad.append((test, a, b))
    return bad
