"""Tests of the migration tooling (tools/) and of the golden-output harness (migration_tests/).

Both are packages at the repository root (tests/conftest.py makes it importable). The
fork/vendor tests need ``git`` and the pinned sdist (downloaded once into
``build/cache/`` and verified); everything runs offline after that.
"""

from __future__ import annotations

import math
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from migration_tests import tolerances
from tools import fork, pristine, scanpy_tests, sdist, series, vendor
from tools._common import PATCHES_DIR, REPO_ROOT, ToolError, bot_env, git, load_pins

# --- helpers ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pins():
    sdist.fetch()  # download + verify once (offline afterwards)
    return load_pins()


@pytest.fixture(scope="session")
def ruff() -> Path:
    found = shutil.which("ruff") or (Path(sys.executable).parent / "ruff")
    if not Path(found).exists():
        pytest.skip("ruff is not installed")
    return Path(found)


def _commit(repo: Path, message: str, date: str = "2025-02-03T04:05:06+00:00") -> None:
    env = {
        **bot_env(),
        "GIT_AUTHOR_NAME": "A Developer",
        "GIT_AUTHOR_EMAIL": "dev@example.org",
        "GIT_AUTHOR_DATE": date,
    }
    git(repo, "add", "-A", env=env)
    git(repo, "commit", "-q", "-m", message, env=env)


def _mini_package(root: Path, version: str = "9.9.9") -> Path:
    pkg = root / "scanpy_kernels"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "_version.py").write_text(f'__version__ = "{version}"\n')
    (pkg / "__init__.py").write_text(
        "from __future__ import annotations\n\nimport numba\n\nfrom ._version import __version__\n"
    )
    (pkg / "sub" / "__init__.py").write_text("from __future__ import annotations\n")
    (pkg / "sub" / "table.json").write_text("{}\n")
    (pkg / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"junk")
    (pkg / "sub" / "k.nbi").write_bytes(b"junk")
    return pkg


# --- series / patch normalization ----------------------------------------------------


PATCH = """From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001
From: A <a@b.c>
Date: Wed, 1 Jan 2025 00:00:00 +0000
Subject: [PATCH 2/5] Dispatch hvg

Body.

Migrates: hvg, rank_genes_groups
---
 a.py | 1 +
diff --git a/a.py b/a.py
index 1234567..89abcde 100644
--- a/a.py
+++ b/a.py
@@ -1 +1,2 @@
 x
+y
"""
PATCH += "-- \n2.39.5\n\n"  # git's signature: "-- " line + version


def test_normalize_ignores_only_volatile_headers():
    other = (
        PATCH.replace("0123456789abcdef0123456789abcdef01234567", "f" * 40)
        .replace("[PATCH 2/5]", "[PATCH]")
        .replace("index 1234567..89abcde", "index 1234567aaaa..89abcdeffff")
        .replace("-- \n2.39.5\n\n", "-- \n2.47.0\n")
    )
    assert series.patch_diff(PATCH, other, "a", "b") == ""
    changed = PATCH.replace("+y", "+z")
    assert "+z" in series.patch_diff(PATCH, changed, "a", "b")
    assert series.patch_diff(PATCH, PATCH.replace("Body.", "Other."), "a", "b")


def test_migrates_trailer():
    assert series.migrated_families(PATCH) == ("hvg", "rank_genes_groups")
    assert series.migrated_families(PATCH.replace("Migrates: hvg, rank_genes_groups\n", "")) == ()


def test_read_series_rejects_missing_patch(tmp_path):
    (tmp_path / "series").write_text("# comment\n0001-x.patch\n")
    with pytest.raises(ToolError, match="does not exist"):
        series.read_series(tmp_path)


# --- sdist ---------------------------------------------------------------------------


def test_sdist_refuses_hash_mismatch(tmp_path, monkeypatch, pins):
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not scanpy")
    monkeypatch.setenv(sdist.CACHE_ENV, str(tmp_path / "cache"))
    with pytest.raises(ToolError, match="sha256 mismatch"):
        sdist.fetch(source=bogus)
    assert not (tmp_path / "cache" / pins.sdist).exists()
    # a tampered cached file is refused on use, too
    (tmp_path / "cache" / pins.sdist).write_bytes(b"tampered")
    with pytest.raises(ToolError, match="REFUSING"):
        sdist.verified_path()


def test_pristine_commit_is_deterministic(tmp_path, pins):
    a = pristine.create(tmp_path / "a")
    b = pristine.create(tmp_path / "b")
    assert a == b
    assert git(tmp_path / "a", "rev-parse", pins.base_tag).stdout.strip() == a
    assert (tmp_path / "a" / "PKG-INFO").exists()  # the whole sdist, untouched


# --- vendor --------------------------------------------------------------------------


def test_import_policy(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        "import os\nimport numpy\nimport pandas\nfrom scanpy_kernels import x\n"
        "try:\n    import psutil\nexcept ImportError:\n    psutil = None\n"
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import anndata\n"
        "from . import b\n"
    )
    problems = vendor.import_violations(pkg, [Path("a.py")], ("numpy", "scipy", "numba"))
    assert len(problems) == 2
    assert "'pandas'" in problems[0]
    assert "relative import" in problems[1]


def test_pyproject_edit_adds_only_the_kernels_ignore(pins, tmp_path):
    pristine.create(tmp_path / "s")
    old = (tmp_path / "s" / "pyproject.toml").read_text()
    new = vendor.edit_pyproject(old, pins.vendor_target)
    added = [ln for ln in new.splitlines() if ln not in old.splitlines()]
    codes = ", ".join(f'"{c}"' for c in sorted(vendor.KERNEL_RUFF_IGNORES))
    assert codes == '"PLR0913", "PLR0917", "TID251"'  # extend only with a reason
    assert added[-1] == f'lint.per-file-ignores."{pins.vendor_target}/**" = [ {codes} ]'
    assert len(added) == 2 + len(vendor.KERNEL_RUFF_IGNORES)  # the line, its comment
    assert all(ln.startswith("# ") for ln in added[:-1])
    with pytest.raises(ToolError):
        vendor.check_pyproject_edit(
            old, new.replace('"numba.njit".msg', '"numba.xjit".msg'), pins.vendor_target
        )


def test_vendor_patch_is_deterministic_and_checkable(tmp_path, pins):
    pkg = _mini_package(tmp_path)
    out1 = vendor.generate(tmp_path / "o1", package=pkg)
    out2 = vendor.generate(tmp_path / "o2", package=pkg)
    assert out1.read_bytes() == out2.read_bytes()
    text = out1.read_text()
    assert text.startswith("From 0000000000000000000000000000000000000000 ")
    assert "From: scanpy-kernels bot" in text
    assert "Date: Wed, 1 Jan 2025 00:00:00 +0000" in text
    assert f"b/{pins.vendor_target}/sub/table.json" in text  # package data kept
    assert "__pycache__" not in text
    assert ".nbi" not in text
    assert "docs/release-notes/" in text
    assert series.migrated_families(text) == ()
    patches = tmp_path / "patches"
    vendor.install(out1, patches)
    assert series.read_series(patches)[0].name == out1.name
    assert vendor.check(patches, package=pkg) == 0
    (pkg / "sub" / "new.py").write_text("from __future__ import annotations\n")
    assert vendor.check(patches, package=pkg) == 1


def test_vendored_path_may_use_raw_numba_only(tmp_path, pins, ruff):
    pkg = _mini_package(tmp_path)
    patches = tmp_path / "patches"
    vendor.install(vendor.generate(tmp_path / "o", package=pkg), patches)
    repo = tmp_path / "fork"
    fork.build(repo, patches_dir=patches)
    probe = (
        "from __future__ import annotations\n\nfrom numba import njit\n\nf = njit(lambda x: x)\n"
    )
    (repo / pins.vendor_target / "probe.py").write_text(probe)
    (repo / "src" / "scanpy" / "probe.py").write_text(probe)
    proc = subprocess.run(
        [
            str(ruff),
            "check",
            "--no-cache",
            "--select",
            "TID251",
            "--output-format",
            "concise",
            f"{pins.vendor_target}/probe.py",
            "src/scanpy/probe.py",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "src/scanpy/probe.py" in proc.stdout
    assert f"{pins.vendor_target}/probe.py" not in proc.stdout


def test_vendored_kernels_pass_scanpys_ruff(tmp_path, pins, ruff):
    """scanpy_kernels/, vendored into the pristine scanpy tree, passes scanpy's ruff.

    Lint and format are checked with scanpy's own configuration (its pyproject.toml
    plus the per-file ignores vendoring adds), where scanpy's CI will check them.
    """
    repo = tmp_path / "scanpy"
    pristine.create(repo, pins)
    vendor.stage(repo, pins)
    target = pins.vendor_target
    runs = {
        "ruff check": [str(ruff), "check", "--no-cache", "--output-format", "concise", target],
        "ruff format --diff": [str(ruff), "format", "--no-cache", "--diff", target],
    }
    failed = []
    for what, cmd in runs.items():
        proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            failed.append(
                f"$ {what} {target}  (exit {proc.returncode})\n{proc.stdout}{proc.stderr}"
            )
    assert not failed, "scanpy's ruff config rejects the vendored kernels:\n" + "\n".join(failed)


def test_series_frontends_pass_scanpys_ruff(tmp_path, pins, ruff):
    """Every Python file the series' frontend patches touch passes scanpy's ruff.

    The fork is built from patches/ and the files changed after the pristine sdist
    (the vendored package aside: the test above) are checked with scanpy's own
    configuration, as scanpy's CI would check a pull request.
    """
    repo = tmp_path / "fork"
    fork.build(repo, patches_dir=PATCHES_DIR)
    base = git(repo, "rev-list", "--max-parents=0", "HEAD").stdout.strip()
    changed = git(repo, "diff", "--name-only", "--diff-filter=AM", base, "HEAD").stdout
    files = [
        f
        for f in changed.split()
        if f.endswith(".py") and not f.startswith(f"{pins.vendor_target}/")
    ]
    assert "src/scanpy/preprocessing/_qc.py" in files
    failed = []
    for cmd in (["check", "--output-format", "concise"], ["format", "--diff"]):
        proc = subprocess.run(
            [str(ruff), *cmd, "--no-cache", *files],
            cwd=repo,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            failed.append(f"$ ruff {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    assert not failed, "scanpy's ruff config rejects the series' frontends:\n" + "\n".join(
        failed
    )


# --- fork build / export / apply -------------------------------------------------------


def _series_with_extra_patches(tmp_path: Path) -> tuple[Path, Path]:
    """patches/ + two hand-made commits, exported as a series of len(patches/) + 2."""
    patches = tmp_path / "patches"
    shutil.copytree(PATCHES_DIR, patches)
    fork_a = tmp_path / "fork-a"
    fork.build(fork_a, patches_dir=patches)
    hvg = fork_a / "src/scanpy/preprocessing/_highly_variable_genes.py"
    hvg.write_text(hvg.read_text() + "\n# dispatch to scanpy._kernels (test)\n")
    _commit(fork_a, "Dispatch hvg to the kernels\n\nLonger body.\n\nMigrates: hvg\n")
    test = fork_a / "tests/test_kernels_dispatch.py"
    test.write_text("from __future__ import annotations\n\n\ndef test_x():\n    assert True\n")
    _commit(fork_a, "Add a dispatch test ünïcode", date="2025-03-01T10:00:00+02:00")
    fork.export(fork_a, out=patches)
    return patches, fork_a


def test_build_export_round_trip(tmp_path, pins):
    patches, fork_a = _series_with_extra_patches(tmp_path)
    n = len(series.read_series(PATCHES_DIR))
    names = [p.name for p in series.read_series(patches)]
    assert len(names) == n + 2
    assert names[:n] == [p.name for p in series.read_series(PATCHES_DIR)]
    assert series.read_series(patches)[n].migrates == ("hvg",)
    # build from the exported series, export again: byte-identical
    fork_b = tmp_path / "fork-b"
    fork.build(fork_b, patches_dir=patches)
    tree = "HEAD^{tree}"
    assert git(fork_a, "rev-parse", tree).stdout == git(fork_b, "rev-parse", tree).stdout
    again = tmp_path / "again"
    again.mkdir()
    fork.export(fork_b, out=again)
    for name in names:
        a, b = (patches / name).read_text(), (again / name).read_text()
        assert series.patch_diff(a, b, "a", "b") == ""
        assert a == b  # even the volatile headers agree: --zero-commit, no signature
    assert (patches / "series").read_text() == (again / "series").read_text()
    # deterministic fork commits: same ids on every build
    fork_c = tmp_path / "fork-c"
    fork.build(fork_c, patches_dir=patches)
    assert git(fork_b, "rev-parse", "HEAD").stdout == git(fork_c, "rev-parse", "HEAD").stdout
    # --upto
    fork.build(fork_c, patches_dir=patches, upto=n + 1)
    count = git(fork_c, "rev-list", "--count", f"{pins.base_tag}..HEAD").stdout.strip()
    assert count == str(n + 1)
    assert "src/scanpy/preprocessing/_highly_variable_genes.py" in fork.touched(fork_c)


def test_apply_onto_checkout_and_conflict_report(tmp_path, pins):
    patches, _ = _series_with_extra_patches(tmp_path)
    n = len(series.read_series(patches))
    ok = tmp_path / "ok"
    pristine.create(ok)
    fork.apply(ok, patches_dir=patches)
    assert git(ok, "rev-list", "--count", f"{pins.base_tag}..HEAD").stdout.strip() == str(n)

    bad = tmp_path / "bad"
    pristine.create(bad)
    hvg = bad / "src/scanpy/preprocessing/_highly_variable_genes.py"
    hvg.write_text(hvg.read_text() + "\n# a conflicting local change\n")
    _commit(bad, "local change")
    start = git(bad, "rev-parse", "HEAD").stdout.strip()
    with pytest.raises(fork.ApplyFailure) as info:
        fork.apply(bad, patches_dir=patches)
    err = info.value
    # the first patch that cannot apply: at the latest the hand-made one that appends to
    # the end of the file (an earlier real patch may touch the end too)
    assert 2 <= err.patch.index <= n - 1
    assert "src/scanpy/preprocessing/_highly_variable_genes.py" in err.files
    assert "src/scanpy/preprocessing/_highly_variable_genes.py" in err.patch.path.read_text()
    assert f"at patch {err.patch.index}/{n}" in str(err)
    assert git(bad, "rev-parse", "HEAD").stdout.strip() == start
    assert not git(bad, "status", "--porcelain", "--untracked-files=no").stdout.strip()

    dirty = tmp_path / "dirty"
    pristine.create(dirty)
    (dirty / "README.md").write_text("dirty\n")
    with pytest.raises(ToolError, match="uncommitted"):
        fork.apply(dirty, patches_dir=patches)


def test_export_requires_linear_history_and_base(tmp_path):
    repo = tmp_path / "r"
    pristine.create(repo)
    with pytest.raises(ToolError, match="no commits"):
        fork.export(repo, out=tmp_path / "out")
    with pytest.raises(ToolError, match="not found"):
        fork.export(repo, base="no-such-ref", out=tmp_path / "out")


def test_fork_cli_reports_failure(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tools.fork", "build", "--upto", "99", "--out", str(tmp_path / "f")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 1
    assert "--upto 99 is outside" in out.stderr


# --- scanpy test selection and junit comparison ---------------------------------------------


def test_scanpy_test_mapping(tmp_path):
    for name in (
        "test_highly_variable_genes.py",
        "test_rank_genes_groups.py",
        "test_package_structure.py",
        "test_normalization.py",
        "test_pca.py",
    ):
        (tmp_path / "tests").mkdir(exist_ok=True)
        (tmp_path / "tests" / name).write_text("")
    touched = [
        "src/scanpy/_kernels/x.py",
        "docs/release-notes/1.perf.md",
        "src/scanpy/preprocessing/_pca/__init__.py",
    ]
    assert scanpy_tests.test_files(touched, [], tmp_path) == ["tests/test_package_structure.py"]
    got = scanpy_tests.test_files(
        ["src/scanpy/preprocessing/_highly_variable_genes.py"],
        ["rank_genes_groups"],
        tmp_path,
    )
    assert got == [
        "tests/test_highly_variable_genes.py",
        "tests/test_rank_genes_groups.py",
    ]


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite>
<testcase classname="tests.test_a" name="test_ok"/>
<testcase classname="tests.test_a" name="test_net"><failure message="no network"/></testcase>
<testcase classname="tests.test_a" name="test_skip"><skipped type="pytest.skip"/></testcase>
<testcase classname="tests.test_a" name="test_xf"><skipped type="pytest.xfail"/></testcase>
{extra}</testsuite></testsuites>"""


def test_junit_comparison(tmp_path):
    a, b = tmp_path / "a.xml", tmp_path / "b.xml"
    a.write_text(JUNIT.format(extra=""))
    b.write_text(JUNIT.format(extra='<testcase classname="tests.test_a" name="test_new"/>'))
    pa, pb = scanpy_tests.outcomes(a), scanpy_tests.outcomes(b)
    assert pa["tests.test_a::test_xf"] == "xfailed"
    assert scanpy_tests.worse(pa, pb) == []  # same failure both sides, a new passing test
    b.write_text(
        JUNIT.format(extra="").replace('name="test_ok"/>', 'name="test_ok"><error/></testcase>')
    )
    assert scanpy_tests.worse(pa, scanpy_tests.outcomes(b)) == [
        ("tests.test_a::test_ok", "passed", "error")
    ]
    b.write_text(
        JUNIT.format(extra="").replace(
            '<testcase classname="tests.test_a" name="test_skip"><skipped type="pytest.skip"/></testcase>',
            "",
        )
    )
    assert scanpy_tests.worse(pa, scanpy_tests.outcomes(b)) == [
        ("tests.test_a::test_skip", "skipped", "absent")
    ]


# --- tolerances and comparator -----------------------------------------------------------


def test_tolerance_table_parses_and_is_tight():
    rules = tolerances.rules()
    assert rules
    for r in rules:
        assert r.reason
        assert r.rtol <= 1e-10 or r.dtype == "float32"
        assert r.rtol <= 2.5e-7
    assert (
        tolerances.rule_for("hvg", "var/highly_variable_rank", "float32") is tolerances.FORCED_EXACT
    )
    assert tolerances.rule_for("hvg", "return/means", "float64").pattern == "means"
    assert tolerances.rule_for("hvg", "var/some_new_float", "float64") is tolerances.EXACT
    assert tolerances.rule_for("rank_genes_groups", "uns/rgg/pts/A", "float64") is tolerances.EXACT
    # X is exact everywhere but where a family computes it (regress_out's residuals)
    assert tolerances.rule_for("hvg", "X", "float64") is tolerances.FORCED_EXACT
    assert tolerances.rule_for("scale", "X", "float64") is tolerances.FORCED_EXACT
    assert tolerances.rule_for("regress", "X", "float64").atol == 1e-11
    assert tolerances.rule_for("regress", "X@dtype", "float64") is tolerances.FORCED_EXACT


def test_tolerance_parser_rejects_bad_rules():
    table = "<!-- rules:start -->\n| family | field | dtype | rtol | atol | reason |\n|---|---|---|---|---|---|\n{row}\n<!-- rules:end -->"
    with pytest.raises(ValueError, match="reason"):
        tolerances.parse(table.format(row="| hvg | means | float64 | 1e-12 | 0 |  |"))
    with pytest.raises(ValueError, match="catch-all"):
        tolerances.parse(table.format(row="| hvg | * | float64 | 1e-12 | 0 | why |"))
    with pytest.raises(ValueError, match="small"):
        tolerances.parse(table.format(row="| hvg | means | float64 | 0.1 | 0 | why |"))


def test_compare_arrays_verdicts():
    from migration_tests import compare

    rule = tolerances.Rule("hvg", "means", "float64", 1e-12, 0.0, "r")
    a = np.array([1.0, 2.0, np.nan, 0.0])
    assert compare.compare_arrays(a, a.copy(), rule)[2] == compare.IDENTICAL
    assert compare.compare_arrays(a, a * (1 + 1e-13), rule)[2] == compare.CLOSE
    _, rel, verdict, _ = compare.compare_arrays(a, a * (1 + 1e-11), rule)
    assert verdict == compare.MISMATCH
    assert math.isclose(rel, 1e-11, rel_tol=1e-3)
    b = a.copy()
    b[3] = np.nan
    assert "NaN" in compare.compare_arrays(a, b, rule)[3]
    assert compare.compare_arrays(a, a.astype(np.float32), rule)[2] == compare.MISMATCH
    assert compare.compare_arrays(a, a * (1 + 1e-13), tolerances.EXACT)[2] == compare.MISMATCH
    names = np.array(["g1", "g2"], dtype=object)
    assert (
        compare.compare_arrays(names, names[::-1].copy(), tolerances.EXACT)[2] == compare.MISMATCH
    )


def test_compare_cli_end_to_end(tmp_path):
    def payload(means: np.ndarray, err: str | None = None) -> dict:
        ok = {
            "status": "ok",
            "family": "hvg",
            "call": "c",
            "fields": {"var/means": means, "var/highly_variable": means > 1},
        }
        bad = {
            "status": "error",
            "family": "hvg",
            "call": "c",
            "fields": {"error/type": "builtins.ValueError", "error/message": err or "m"},
        }
        return {
            "format": 1,
            "environment": {"scanpy": "x"},
            "cases": {"c1": ok, "c2": bad},
        }

    def run(a: dict, b: dict) -> subprocess.CompletedProcess[str]:
        for name, data in (("a.pkl", a), ("b.pkl", b)):
            with (tmp_path / name).open("wb") as f:
                pickle.dump(data, f)
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "migration_tests.compare",
                str(tmp_path / "a.pkl"),
                str(tmp_path / "b.pkl"),
            ],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    m = np.array([0.5, 1.5, 3.0])
    assert run(payload(m), payload(m)).returncode == 0
    proc = run(payload(m), payload(m * (1 + 1e-9)))
    assert proc.returncode == 1
    assert "MISMATCH" in proc.stdout
    assert run(payload(m), payload(m, err="other message")).returncode == 1


def test_compare_accepts_only_avoided_storage_mutations():
    """pristine rewrote X's storage in place (values kept), patched did not: improved."""
    from migration_tests import compare

    x = np.array([[0.0, 1.0], [2.0, 0.0]])

    def fields(*, mutated: bool, kind: str | None = None) -> dict:
        out = {"warnings": (), "mutated/X": mutated, "uns/r/scores/A": x[0]}
        if mutated:
            out |= {"mutation/X": kind, "X": x, "X@type": "csr_matrix", "X@shape": (2, 2)}
        return out

    def verdicts(fa: dict, fb: dict) -> dict[str, str]:
        ra = {"status": "ok", "family": "rank_genes_groups", "fields": fa}
        rb = {"status": "ok", "family": "rank_genes_groups", "fields": fb}
        return {r.field: r.verdict for r in compare.compare_case("c", ra, rb)}

    got = verdicts(fields(mutated=True, kind="storage"), fields(mutated=False))
    assert got == {
        "X": compare.IMPROVED,
        "X@shape": compare.IMPROVED,
        "X@type": compare.IMPROVED,
        "mutated/X": compare.IMPROVED,
        "mutation/X": compare.IMPROVED,
        "uns/r/scores/A": compare.IDENTICAL,
        "warnings": compare.IDENTICAL,
    }
    # pristine changed values: patched not doing so is a difference
    got = verdicts(fields(mutated=True, kind="values"), fields(mutated=False))
    assert got["mutated/X"] == got["X"] == compare.MISMATCH
    # a mutation only patched makes is never accepted
    got = verdicts(fields(mutated=False), fields(mutated=True, kind="storage"))
    assert got["mutated/X"] == got["mutation/X"] == compare.MISMATCH
    # both rewrite the storage: compared as usual
    same = fields(mutated=True, kind="storage")
    assert set(verdicts(same, dict(same)).values()) == {compare.IDENTICAL}


def test_compare_accepts_only_avoided_pristine_only_warnings():
    """pristine raised pandas-4 deprecations from code patched does not run, patched did not."""
    from migration_tests import compare

    view = compare.PRISTINE_ONLY_WARNINGS[0] + " It has had no effect since pandas 3.0."
    other = "builtins.UserWarning: `flavor='pearson_residuals'` expects raw count data"

    def verdict(wa: tuple[str, ...], wb: tuple[str, ...]) -> str:
        ra = {"status": "ok", "family": "hvg", "fields": {"warnings": wa}}
        rb = {"status": "ok", "family": "hvg", "fields": {"warnings": wb}}
        (row,) = compare.compare_case("c", ra, rb)
        return row.verdict

    assert verdict((other, view), (other,)) == compare.IMPROVED
    assert verdict((view,), ()) == compare.IMPROVED
    assert verdict((other, view), (other, view)) == compare.IDENTICAL
    # any other warning lost, or one only patched raises, is a difference
    assert verdict((other, view), ()) == compare.MISMATCH
    assert verdict((other,), ()) == compare.MISMATCH
    assert verdict((), (view,)) == compare.MISMATCH
    assert verdict((view,), (other,)) == compare.MISMATCH
    # anndata reading pandas' deprecated future.infer_string while pristine built an
    # AnnData of intermediate results (seurat_v3's aggregate)
    infer = compare.PRISTINE_ONLY_WARNINGS[1] + " and will be removed in pandas 4.0."
    assert verdict((infer, other, view), (other, view)) == compare.IMPROVED
    assert verdict((infer, view), ()) == compare.IMPROVED
    assert verdict((infer,), (view,)) == compare.MISMATCH
    # scanpy's own deprecated sort_values(inplace=True), merging hvg batches
    inplace = compare.PRISTINE_ONLY_WARNINGS[2] + " and will be removed in a future version."
    assert verdict((view, inplace), ()) == compare.IMPROVED
    assert verdict((other, inplace), (other,)) == compare.IMPROVED
    assert verdict((inplace,), (other,)) == compare.MISMATCH


def test_record_tells_storage_from_value_mutations():
    pytest.importorskip("scipy")
    from scipy import sparse

    from migration_tests import record

    m = sparse.csr_matrix(np.array([[0.0, 1.0], [2.0, 3.0]]))
    m.data[0] = 0.0  # an explicit zero
    snap = record.snapshot(m)
    m.eliminate_zeros()
    assert not record.unchanged(m, snap)
    assert record.same_values(m, snap)
    m.data[0] = 5.0
    assert not record.same_values(m, snap)
    d = np.ones((2, 2))
    snap = record.snapshot(d)
    d[0, 0] = 2.0
    assert not record.same_values(d, snap)


# --- harness inputs and records (need the scientific stack) -----------------------------------


def test_inputs_are_deterministic_and_cover_edge_cases():
    pytest.importorskip("anndata")
    from scipy import sparse

    from migration_tests import inputs
    from migration_tests.cases import CSC64_I64, NONCANON32, SMALL, gen
    from migration_tests.run_cases import copy_matrix

    spec = gen(SMALL, CSC64_I64, values="log1p")
    a, b = inputs.build(spec), inputs.build(spec)
    assert (a.X != b.X).nnz == 0
    assert a.X.indices.dtype == np.int64
    assert copy_matrix(a.X).indices.dtype == np.int64
    dense = a.X.toarray()
    assert (dense[:, : inputs.N_ZERO_GENES] == 0).all()
    assert (dense[-inputs.N_ZERO_CELLS :] == 0).all()
    assert a.obs["group_small"].value_counts()["single"] == 1
    nc = inputs.build(gen(SMALL, NONCANON32)).X
    assert sparse.isspmatrix_csr(nc)
    assert not nc.has_sorted_indices
    assert (nc.data == 0).any()


def test_rgg_edge_inputs_have_their_edge_cases():
    pytest.importorskip("anndata")
    from scipy import sparse

    from migration_tests import inputs
    from migration_tests.cases import CSC_ARRAY32_I64, DENSE64, NONCANON_CSC64_I64, SMALL, gen

    a = inputs.build(gen(SMALL, DENSE64, values="log1p", nan=True))
    x, g = a.X, inputs.N_ZERO_GENES
    group = a.obs["group"].to_numpy()
    assert (x[:, g] == 1.5).all()  # every cell tied
    in_ac = np.isin(group, ["A", "C"])
    assert (x[in_ac, g + 1] == 0).all()
    assert (x[~in_ac, g + 1] != 0).sum() > 10
    assert (x[group != "D", g + 2] == 0).all()
    assert (x[group == "D", g + 2] != 0).sum() > 5
    assert len(np.unique(x[:, g + 3])) < 15  # heavy ties
    assert (x[:, g + 6] < 0).any()
    assert (x[:, g + 6] > 0).any()
    assert np.isnan(x[:, g + 7]).sum() == 1
    assert np.isnan(x[group == "A", g + 8]).sum() == np.isnan(x[:, g + 8]).sum() == 3
    assert not isinstance(a.obs["score"].dtype, type(a.obs["group"].dtype))
    assert a.uns["log1p"] == {"base": None}
    csc = inputs.build(gen(SMALL, CSC_ARRAY32_I64, values="log1p", edges=True)).X
    assert isinstance(csc, sparse.csc_array)
    assert csc.indices.dtype == np.int64
    assert not np.isnan(csc.data).any()
    np.testing.assert_array_equal(csc.toarray()[:, g], np.float32(1.5))
    nc = inputs.build(gen(SMALL, NONCANON_CSC64_I64, values="log1p", edges=True)).X
    assert not nc.has_sorted_indices
    assert (nc.data == 0).any()  # stored zeros (in place of ~2% of the values)


def test_cases_are_unique_and_cover_the_families():
    pytest.importorskip("pandas")
    from migration_tests import cases

    all_cases = cases.all_cases()
    assert {c.family for c in all_cases} == set(cases.FAMILIES)
    funcs = {c.func for c in all_cases}
    assert funcs == {
        cases.HVG, cases.HVG_EXP, cases.RGG, cases.QC, cases.NORM, cases.SCALE, cases.REGRESS,
        cases.FILTER_CELLS, cases.FILTER_GENES, cases.MORANS_I, cases.GEARYS_C,
        cases.AGGREGATE,
    }
    agg_kwargs = {k for c in all_cases if c.func == cases.AGGREGATE for k in c.kwargs}
    assert {"by", "func", "axis", "mask", "dof", "layer", "obsm"} <= agg_kwargs
    agg_funcs = {
        f for c in all_cases if c.func == cases.AGGREGATE for f in np.atleast_1d(c.kwargs["func"])
    }
    assert set(cases.AGG_FUNCS) <= agg_funcs
    for func, thresholds in [
        (cases.FILTER_CELLS, {"min_genes", "max_genes", "min_counts", "max_counts"}),
        (cases.FILTER_GENES, {"min_cells", "max_cells", "min_counts", "max_counts"}),
    ]:
        kwargs = {k for c in all_cases if c.func == func for k in c.kwargs}
        assert thresholds | {"inplace", "copy"} <= kwargs
    regress_kwargs = {k for c in all_cases if c.func == cases.REGRESS for k in c.kwargs}
    assert {"keys", "layer", "n_jobs", "copy"} <= regress_kwargs
    scale_kwargs = {k for c in all_cases if c.func == cases.SCALE for k in c.kwargs}
    assert {"zero_center", "max_value", "copy", "layer", "mask_obs"} <= scale_kwargs
    norm_kwargs = {k for c in all_cases if c.func == cases.NORM for k in c.kwargs}
    assert {"target_sum", "exclude_highly_expressed", "max_fraction"} <= norm_kwargs
    assert {"key_added", "layer", "inplace", "copy"} <= norm_kwargs
    qc_kwargs = {k for c in all_cases if c.func == cases.QC for k in c.kwargs}
    assert {"qc_vars", "percent_top", "layer", "use_raw", "inplace", "log1p"} <= qc_kwargs
    assert {"expr_type", "var_type"} <= qc_kwargs
    flavors = {c.kwargs.get("flavor") for c in all_cases if c.func == cases.HVG}
    assert {"seurat", "cell_ranger", "seurat_v3", "seurat_v3_paper"} <= flavors
    methods = {c.kwargs.get("method") for c in all_cases if c.func == cases.RGG}
    assert {"wilcoxon", "t-test", "t-test_overestim_var", "logreg"} <= methods


def test_record_flattens_structured_arrays_and_frames():
    pd = pytest.importorskip("pandas")
    from migration_tests import record

    rec = np.rec.fromarrays(
        [np.array(["g1", "g2"], dtype=object), np.array([1.5, 0.5], dtype=np.float32)],
        names=["A", "B"],
    )
    out: dict = {}
    record.flatten_value(
        "uns/rgg",
        {
            "names": rec,
            "params": {"method": "t-test"},
            "pts": pd.DataFrame({"A": [0.1]}, index=["g1"]),
        },
        out,
    )
    assert out["uns/rgg@keys"] == ("names", "params", "pts")
    assert list(out["uns/rgg/names/A"]) == ["g1", "g2"]
    assert out["uns/rgg/names/B"].dtype == np.float32
    assert out["uns/rgg/params/method"] == "t-test"
    assert list(out["uns/rgg/pts/index"]) == ["g1"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX paths")
def test_tools_are_stdlib_only():
    """The tools must run from any interpreter (no third-party imports)."""
    import ast

    allowed = set(sys.stdlib_module_names) | {"tools"}  # and relative imports
    for path in (REPO_ROOT / "tools").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else (
                    [node.module]
                    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                    else []
                )
            )
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"


# --- sharded case runs (series gate) -----------------------------------------------------


def test_shards_split_cases_by_whole_inputs():
    pytest.importorskip("anndata")
    from migration_tests.cases import select
    from migration_tests.run_cases import shard

    cases = select(["hvg", "rank_genes_groups"])
    for n in (1, 2, 3):
        parts = [shard(cases, k, n) for k in range(n)]
        ids = [c.id for part in parts for c in part]
        assert sorted(ids) == sorted(c.id for c in cases)  # each case exactly once
        inputs = [{c.input for c in part} for part in parts]
        for a in range(n):
            for b in range(a + 1, n):
                assert not inputs[a] & inputs[b]  # an input is built in one shard only
        sizes = [len(part) for part in parts]
        assert max(sizes) - min(sizes) <= max(len(cases) // 10, 1), sizes
        # each shard keeps the cases' order
        order = {c.id: i for i, c in enumerate(cases)}
        for part in parts:
            assert [order[c.id] for c in part] == sorted(order[c.id] for c in part)


def test_merge_of_shard_outputs(tmp_path):
    pytest.importorskip("anndata")
    from migration_tests import run_cases

    env = {"scanpy": "1.12.4"}
    one = {
        "format": 1,
        "environment": env,
        "families": ["hvg"],
        "pattern": None,
        "cases": {"a": {"status": "ok"}},
        "elapsed": 2.0,
    }
    two = {
        **one,
        "families": ["rank_genes_groups"],
        "cases": {"b": {"status": "error"}},
        "elapsed": 3.0,
    }
    paths = []
    for i, payload in enumerate((one, two)):
        paths.append(tmp_path / f"s{i}.pkl")
        run_cases._save(paths[-1], payload)
    out = tmp_path / "all.pkl"
    assert run_cases.main(["--out", str(out), "--merge", *map(str, paths)]) == 0
    merged = run_cases._load(out)
    assert merged["cases"] == {"a": {"status": "ok"}, "b": {"status": "error"}}
    assert merged["families"] == ["hvg", "rank_genes_groups"]
    assert merged["elapsed"] == 3.0
    with pytest.raises(ValueError, match="share cases"):
        run_cases.merge([one, one])
    with pytest.raises(ValueError, match="different environments"):
        run_cases.merge([one, {**two, "environment": {"scanpy": "1.12.3"}}])


# --- pinned environments (pins/constraints.txt) ---------------------------------------


def test_this_environment_resolved_under_the_constraints():
    """The test environment was installed under pins/constraints.txt (noxw/noxfile -c).

    Fails when an install ignores the constraints: a fresh clone then gets whatever
    PyPI has that day (dask 2026.11 beside distributed 2021.4 once failed CI).
    """
    from importlib.metadata import PackageNotFoundError, version

    from tools._common import CONSTRAINTS_FILE

    pinned = {}
    for line in CONSTRAINTS_FILE.read_text().splitlines():
        name, sep, ver = line.partition("==")
        if sep and not line.startswith("#"):
            assert name not in pinned, f"{name} pinned twice"
            pinned[name] = ver
    assert {"dask", "distributed", "numba", "numpy", "pandas"} <= pinned.keys()
    off = {}
    for name, ver in pinned.items():
        try:
            got = version(name)
        except PackageNotFoundError:
            continue  # pinned for another environment (pristine, patched, noxw)
        if got != ver:
            off[name] = (got, ver)
    assert not off, f"installed vs pinned: {off}"


def test_lock_refuses_environments_that_disagree(tmp_path, monkeypatch):
    from tools import envs

    monkeypatch.setattr(envs, "ENVS_DIR", tmp_path / "envs")
    monkeypatch.setattr(envs, "REPO_ROOT", tmp_path)
    for name in ("a", "b"):
        (tmp_path / "envs" / name / "bin").mkdir(parents=True)
        (tmp_path / "envs" / name / "bin" / "python").touch()
    freezes = iter(["numpy==2.0.0\nscanpy @ file:///x\n", "numpy==2.1.0\n"])
    monkeypatch.setattr(envs, "uv_exe", lambda: "uv")
    monkeypatch.setattr(
        envs, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, next(freezes), "")
    )
    with pytest.raises(ToolError, match="numpy"):
        envs.lock(tmp_path / "c.txt")
    freezes = iter(["numpy==2.0.0\nscanpy @ file:///x\n", "numpy==2.0.0\nzarr==3.0\n"])
    assert envs.lock(tmp_path / "c.txt") == 2
    assert (tmp_path / "c.txt").read_text().splitlines()[-2:] == ["numpy==2.0.0", "zarr==3.0"]


def test_numba_compile_warnings_are_not_recorded():
    """numba's compiler warnings depend on the cache; every other warning counts."""
    import warnings

    numba_errors = pytest.importorskip("numba.core.errors")
    from migration_tests.run_cases import _compile_time

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("slow", numba_errors.NumbaPerformanceWarning, stacklevel=1)
        warnings.warn("real", UserWarning, stacklevel=1)
    assert [_compile_time(w) for w in caught] == [True, False]


def test_defaults_check_busy_threads_rule():
    """Slower fails; fewer busy threads (by more than 0.01) fails unless patched keeps
    ≥ 95% of them busy."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from _speed_report import defaults_check

    def run(side, pair, t, cpu):
        case = {"times": [t] * 4, "cpu_times": [cpu] * 4}
        tag = {"pair": pair, "data": "S", "fmt": "csr"}
        return {"section": "defaults", "side": side, "threads": 2, "tag": tag,
                "result": {"cases": {"qc_metrics": case}}}

    def check(a, b):
        runs = [run("pristine", k, *a) for k in range(3)]
        runs += [run("patched", k, *b) for k in range(3)]
        return defaults_check({"runs": runs})[1]

    assert check((1.0, 1.2), (0.5, 0.6)) == []  # faster, busier
    assert check((1.0, 1.2), (2.0, 2.4)) == ["S csr qc_metrics: slower"]
    assert check((1.0, 1.9), (0.5, 0.6)) == ["S csr qc_metrics: fewer busy threads"]
    assert check((1.0, 1.98), (0.5, 0.97)) == []  # 1.94 of 2: at the ceiling
    # two serial sides, 0.9998 against 1.0: within the measurement's resolution
    assert check((1.0, 1.0), (0.5, 0.4999)) == []
    assert check((1.0, 1.0), (0.5, 0.49)) == ["S csr qc_metrics: fewer busy threads"]
