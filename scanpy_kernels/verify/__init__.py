"""The kernel verifier: static and run-time checks of every kernel.

It fails kernels that are not parallel, race, call Python, allocate in hot loops, can
raise IndexError, whose hints did not land, or whose result depends on the thread
count.

Command line::

    python -m scanpy_kernels.verify [TARGET ...] [--json]

TARGET is a module, a package or a ``.py`` path (default: this whole package).  Every
kernel is compiled afresh (cache bypassed) for each of its declared signatures.  Exit
status 1 on any finding.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor

from ._check import verify_kernel
from ._discover import discover
from ._findings import CHECKS, Finding, Report

__all__ = ["CHECKS", "Finding", "Report", "discover", "verify", "verify_kernel"]


def _verify_named(targets: list[str], name: str) -> tuple[list[str], list[Finding]]:
    return verify_kernel(discover(targets)[name], name)


def _exit_with(parent: int) -> None:
    """End this worker as soon as the verifier's process is gone.

    A verifier killed from outside (a CI time-out) would otherwise leave its workers
    compiling: they are not its threads, and a pool's workers outlive a SIGKILL.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def verify(targets: list[str] | None = None, *, jobs: int = 1) -> Report:
    """Verify every kernel in ``targets`` (default: the package this verifier belongs to).

    ``jobs > 1`` verifies kernels in that many worker processes (compiling dominates).
    """
    targets = targets or [__package__.rpartition(".")[0]]
    names = list(discover(targets))
    report = Report()
    if jobs > 1 and len(names) > 1:
        # spawn: forking a process whose numba threads are running is unsafe
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=ctx,
            initializer=_exit_with,
            initargs=(os.getpid(),),
        ) as pool:
            results = list(pool.map(_verify_named, [targets] * len(names), names))
    else:
        results = [_verify_named(targets, name) for name in names]
    for name, (sigs, findings) in zip(names, results, strict=True):
        report.kernels[name] = sigs
        report.findings += findings
    return report
