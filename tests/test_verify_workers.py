"""The verifier's worker processes end with it (e.g. when a time-out kills it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

psutil = pytest.importorskip("psutil")


def test_workers_exit_when_the_verifier_is_killed():
    code = "from scanpy_kernels.verify import verify; verify(jobs=2)"
    proc = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    parent = psutil.Process(proc.pid)
    try:
        deadline = time.monotonic() + 120
        while len(workers := parent.children(recursive=True)) < 2:
            assert time.monotonic() < deadline, "no workers started"
            assert proc.poll() is None, "the verifier ended before its workers started"
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=20)
    for p in alive:
        p.kill()
    assert not alive, f"{len(alive)} worker(s) outlived the verifier"
