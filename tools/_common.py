"""Shared helpers of the migration tools: paths, pins, subprocess and git wrappers.

Every tool in this directory is a stdlib-only script (Python >= 3.11 and ``git``),
so it runs from any interpreter, inside or outside the nox environments.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = REPO_ROOT / "build"
PATCHES_DIR = REPO_ROOT / "patches"
PINS_FILE = REPO_ROOT / "pins" / "scanpy.toml"
# every environment the project creates resolves under these versions (tools.envs lock)
CONSTRAINTS_FILE = REPO_ROOT / "pins" / "constraints.txt"
PACKAGE_DIR = REPO_ROOT / "scanpy_kernels"
# Tag the tools put on the pristine-sdist commit of every scratch/fork repo.
BASE_TAG_FMT = "scanpy-{version}-sdist"


class ToolError(Exception):
    """A failure the tools report to the user as a message, not a traceback."""


@dataclass(frozen=True)
class Pins:
    version: str
    sdist: str
    sha256: str
    vendor_target: str
    pr: int
    allowed_imports: tuple[str, ...]
    bot_name: str
    bot_email: str
    bot_date: str

    @property
    def base_tag(self) -> str:
        return BASE_TAG_FMT.format(version=self.version)


@cache
def load_pins(path: Path = PINS_FILE) -> Pins:
    data = tomllib.loads(path.read_text())
    scanpy, vendor, bot = data["scanpy"], data["vendor"], data["bot"]
    return Pins(
        version=scanpy["version"],
        sdist=scanpy["sdist"],
        sha256=scanpy["sha256"].lower(),
        vendor_target=vendor["target"],
        pr=int(vendor.get("pr", 0)),
        allowed_imports=tuple(vendor["allowed_imports"]),
        bot_name=bot["name"],
        bot_email=bot["email"],
        bot_date=bot["date"],
    )


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    capture: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; on failure raise :class:`ToolError` with its output."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [os.fspath(c) for c in cmd],
        cwd=cwd,
        env=full_env,
        text=True,
        capture_output=capture,
        input=input_text,
        check=False,
    )
    if check and proc.returncode != 0:
        out = (proc.stdout or "") + (proc.stderr or "")
        msg = f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{out}"
        raise ToolError(msg)
    return proc


def bot_env(pins: Pins | None = None) -> dict[str, str]:
    """Environment for deterministic commits in repos the tools own.

    Global/system git configuration is ignored so a developer's settings
    (signing, hooks, ``format.*``) cannot change the bytes the tools produce.
    """
    p = pins or load_pins()
    return {
        "GIT_AUTHOR_NAME": p.bot_name,
        "GIT_AUTHOR_EMAIL": p.bot_email,
        "GIT_AUTHOR_DATE": p.bot_date,
        "GIT_COMMITTER_NAME": p.bot_name,
        "GIT_COMMITTER_EMAIL": p.bot_email,
        "GIT_COMMITTER_DATE": p.bot_date,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "TZ": "UTC",
        "LC_ALL": "C",
    }


def git(
    repo: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    return run(["git", "-C", str(repo), *args], env=env, check=check)


# Flags that make `git format-patch` output independent of the repository
# (hash abbreviation length, commit ids) and of the git version (signature).
FORMAT_PATCH_FLAGS = (
    "--zero-commit",
    "--no-signature",
    "--full-index",
    "--no-numbered",
    "--find-renames",
    "--encoding=UTF-8",
)
