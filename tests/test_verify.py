"""The verifier must be able to fail: each bad kernel is flagged for exactly its reason."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scanpy_kernels.verify import CHECKS, verify_kernel

from .conftest import HERE

# kernel -> the exact set of checks it must fail
EXPECTED = {
    "prange_with_break": {"parallel"},
    "nested_prange": {"parallel"},
    "racy_scatter": {"race"},
    "calls_print": {"python-api"},
    "allocates_in_loop": {"alloc-in-loop"},
    "bounds_checked": {"index-error"},
    "hint_not_honoured": {"hint"},
    "depends_on_threads": {"threads"},
    "parallel_without_example": {"example"},
    "does_not_compile": {"compile"},
    # numba.get_num_threads() is a ctypes global, and its overload prints on an error path
    "uncacheable": {"cache", "python-api"},
}


# the static check always flags the scatter; the run-time check sees it only when the
# two threads really interleave (on a loaded machine they may run one after the other)
MAY_ALSO_FAIL = {"racy_scatter": {"threads"}}


def _as_expected(name, failed):
    return EXPECTED[name] <= failed <= EXPECTED[name] | MAY_ALSO_FAIL.get(name, set())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_kernel_fails_for_its_reason(bad_kernels, name):
    _, findings = verify_kernel(getattr(bad_kernels, name), name)
    assert _as_expected(name, {f.check for f in findings}), [str(f) for f in findings]


def test_every_check_has_a_bad_kernel():
    assert set().union(*EXPECTED.values()) == set(CHECKS)


@pytest.mark.parametrize("name", ["csr_row_sums", "csr_col_sums", "csr_scale_rows"])
def test_good_kernels_pass(good_kernels, name):
    sigs, findings = verify_kernel(getattr(good_kernels, name), name)
    assert sigs
    assert findings == []


def test_race_marker_needs_a_reason(tmp_path):
    src = (HERE / "kernels" / "good_kernels.py").read_text()
    src = src.replace("# race-free: row r owns data[indptr[r]:indptr[r+1]]", "# race-free:")
    path = tmp_path / "unmarked_kernels.py"
    path.write_text(src)
    from .conftest import load_path

    mod = load_path(path)
    _, findings = verify_kernel(mod.csr_scale_rows, "csr_scale_rows")
    assert {f.check for f in findings} == {"race"}


def test_race_marker_on_a_continuation_line(tmp_path):
    """A formatter may move the marker to the statement's last line: still found."""
    src = (HERE / "kernels" / "good_kernels.py").read_text()
    line = "out[k] = data[k] * scale[r]  # race-free: row r owns data[indptr[r]:indptr[r+1]]"
    assert line in src
    split = "out[k] = data[k] * (\n                scale[r]\n            )  # race-free: row r"
    for marked, expected in ((split, set()), (split.replace("# race-free: row r", ""), {"race"})):
        path = tmp_path / f"split_{bool(expected)}_kernels.py"
        path.write_text(src.replace(line, marked))
        from .conftest import load_path

        mod = load_path(path)
        _, findings = verify_kernel(mod.csr_scale_rows, "csr_scale_rows")
        assert {f.check for f in findings} == expected


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "scanpy_kernels.verify", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_fails_on_bad_kernels_and_names_each():
    res = _cli(str(HERE / "kernels" / "bad_kernels.py"), "--json")
    assert res.returncode == 1
    report = json.loads(res.stdout)
    assert not report["ok"]
    failed = {k.rsplit(".", 1)[1]: set(v["failed"]) for k, v in report["kernels"].items()}
    assert failed.keys() == EXPECTED.keys()
    assert all(_as_expected(name, checks) for name, checks in failed.items()), failed


def test_cli_passes_on_good_kernels_with_a_table():
    res = _cli(str(HERE / "kernels" / "good_kernels.py"))
    assert res.returncode == 0, res.stdout
    assert "3 kernel(s) ok, 0 failed" in res.stdout
