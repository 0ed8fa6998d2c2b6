"""Process-side helpers of speed.py's workers: memory readings and the JSON protocol.

Every worker is one fresh interpreter that prints exactly one line ``RESULT {json}``
on stdout (anything else it prints is ignored by the parent).
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _status() -> dict[str, int]:
    """VmRSS / VmHWM of this process in bytes (Linux); empty elsewhere."""
    try:
        with open("/proc/self/status") as f:
            lines = dict(ln.split(":", 1) for ln in f if ln.startswith(("VmRSS", "VmHWM")))
    except OSError:
        return {}
    return {k: int(v.split()[0]) * 1024 for k, v in lines.items()}


def rss() -> int:
    return _status().get("VmRSS", 0)


def peak() -> int:
    """Peak RSS in bytes: VmHWM (resettable), else ru_maxrss."""
    st = _status()
    return st.get("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def timed(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def timed_cpu(fn: Callable[[], Any]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of this process) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def measure(call: Callable[[], Any], repeats: int, min_time: float = 0.0) -> dict[str, Any]:
    """Timed calls (at least one; more while under ``repeats`` and ``min_time`` s).

    Memory: ``rss_base`` is the RSS before the calls (data loaded), ``peak_delta``
    the highest RSS during the calls minus that baseline, ``peak_total`` the
    process's peak RSS so far (bytes).
    """
    import gc

    gc.collect()
    _trim()  # hand freed heap pages back, so earlier cases' arenas do not hide new ones
    base = rss()
    process_peak = peak()
    exact = reset_peak()
    both = [timed_cpu(call)]
    while len(both) < repeats and sum(t for t, _ in both) < min_time:
        both.append(timed_cpu(call))
    during = peak()
    return {
        "times": [t for t, _ in both],
        "cpu_times": [c for _, c in both],
        "rss_base": base,
        "peak_total": max(process_peak, during),
        "peak_delta": during - base if exact else None,
    }


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


def parse(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None


def version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _v

    try:
        return _v(dist)
    except PackageNotFoundError:
        return "not installed"
