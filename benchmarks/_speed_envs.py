"""speed.py's environments: default interpreters, the public packages' venvs, machine facts."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_ENVS = ROOT / "build" / "bench-envs"
#: public implementation -> pip requirements of its venv (scanpy for the loaders)
PUBLIC = {
    "biosparse": ["biosparse==0.1.1", "scanpy==1.12.4"],
    "illico": ["illico==0.6.0", "scanpy==1.12.4"],
}


def default_python(side: str) -> str | None:
    """``build/envs/<side>`` (tools/envs.py), then nox's env of that name."""
    for cand in (ROOT / "build" / "envs" / side / "bin" / "python",
                 *sorted((ROOT / ".nox").glob(f"*{side}*/bin/python"))):
        if cand.exists():
            return str(cand)
    return None


def has_module(python: str, module: str) -> bool:
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    try:
        return subprocess.run([python, "-c", code], check=False, capture_output=True,
                              timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_public(name: str, *, install: bool, log) -> tuple[str | None, str]:
    """Interpreter of ``build/bench-envs/<name>`` with ``name`` importable, or (None, why).

    With ``install``, a missing venv is created and the package installed from PyPI
    (one attempt; failures are reported, not raised).
    """
    py = BENCH_ENVS / name / "bin" / "python"
    if py.exists() and has_module(str(py), name):
        return str(py), "ok"
    if not install:
        return None, "not installed"
    log(f"installing {name} into {py.parent.parent} (one attempt) ...")
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(py.parent.parent)], check=True,
                           capture_output=True, timeout=300)
        proc = subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                               *PUBLIC[name]], check=False, capture_output=True, text=True,
                              timeout=1200)
    except (OSError, subprocess.SubprocessError) as err:
        return None, f"not installed ({type(err).__name__})"
    if proc.returncode != 0 or not has_module(str(py), name):
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["?"]
        return None, f"not installed (pip: {tail[0][:120]})"
    return str(py), "ok"


def machine() -> dict[str, str]:
    """CPU model (lscpu), cores, RAM, OS — for the report."""
    info = {"cpu": platform.processor() or platform.machine(), "cores": str(os.cpu_count())}
    try:
        out = subprocess.run(["lscpu"], check=False, capture_output=True, text=True,
                             timeout=30).stdout
        fields = dict(re.findall(r"^([^:\n]+):\s*(.*)$", out, re.M))
        info["cpu"] = fields.get("Model name", info["cpu"])
        cores = int(fields.get("Core(s) per socket", 0)) * int(fields.get("Socket(s)", 0))
        info["cores"] = f"{fields.get('CPU(s)', info['cores'])} CPUs ({cores} cores)" if cores else info["cores"]
        if "avx512f" in fields.get("Flags", ""):
            info["simd"] = "AVX-512"
        elif "avx2" in fields.get("Flags", ""):
            info["simd"] = "AVX2"
    except (OSError, subprocess.SubprocessError, ValueError):
        pass
    try:
        mem = Path("/proc/meminfo").read_text()
        kb = int(re.search(r"MemTotal:\s+(\d+)", mem).group(1))  # type: ignore[union-attr]
        info["ram"] = f"{kb / 2**20:.1f} GiB"
    except (OSError, AttributeError):
        info["ram"] = "?"
    info["os"] = platform.platform()
    try:
        info["load"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        pass
    return info


def python_version(python: str) -> str:
    try:
        return subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                              check=False, capture_output=True, text=True,
                              timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
