"""The kernel verifier: fails kernels that are not parallel, race, call Python, allocate
in hot loops, can raise IndexError, whose hints did not land, or whose result depends
on the thread count.

Command line::

    python -m scanpy_kernels.verify [TARGET ...] [--json]

TARGET is a module, a package or a ``.py`` path (default: this whole package).  Every
kernel is compiled afresh (cache bypassed) for each of its declared signatures.  Exit
status 1 on any finding.
"""

from __future__ import annotations

from ._check import verify_kernel
from ._discover import discover
from ._findings import CHECKS, Finding, Report

__all__ = ["CHECKS", "Finding", "Report", "discover", "verify", "verify_kernel"]


def verify(targets: list[str] | None = None) -> Report:
    """Verify every kernel in ``targets`` (default: the package this verifier belongs to)."""
    report = Report()
    package = __package__.rpartition(".")[0]
    for name, k in discover(targets or [package]).items():
        report.kernels[name], findings = verify_kernel(k, name)
        report.findings += findings
    return report
