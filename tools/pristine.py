"""Create a git repository whose first commit is the pristine, verified sdist tree.

The commit is made by the bot identity at the pinned date (pins/scanpy.toml), so
its id is the same on every machine, and it is tagged ``scanpy-<version>-sdist``.
A verified template repository is cached under ``build/cache/`` and cloned, so
repeated fork builds do not re-import the ~1000 files each time.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from . import sdist
from ._common import BUILD_DIR, Pins, ToolError, bot_env, git, load_pins, log


def _template_dir(p: Pins) -> Path:
    return BUILD_DIR / "cache" / f"pristine-{p.version}-{p.sha256[:12]}"


def _message(p: Pins) -> str:
    return (
        f"scanpy {p.version} (pristine sdist)\n\n"
        f"Unmodified tree of {p.sdist} from PyPI,\n"
        f"sha256 {p.sha256}.\n"
    )


def _create_template(dest: Path, p: Pins) -> None:
    env = bot_env(p)
    sdist.extract(dest, p)
    git(dest, "init", "--quiet", "--initial-branch=main", env=env)
    # -f: the sdist ships files its own .gitignore would hide; keep them all.
    git(dest, "add", "--all", "--force", ".", env=env)
    git(dest, "commit", "--quiet", "--no-verify", "-m", _message(p), env=env)
    git(dest, "tag", p.base_tag, env=env)


def template(p: Pins) -> Path:
    tpl = _template_dir(p)
    if (tpl / ".git").is_dir():
        # every use re-checks the sdist hash, even with a cached template
        sdist.verified_path(p)
        return tpl
    log(f"creating pristine template repo {tpl}")
    tpl.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tpl.parent) as tmp:
        work = Path(tmp) / "repo"
        _create_template(work, p)
        try:
            work.replace(tpl)
        except OSError:
            if not (tpl / ".git").is_dir():  # not a concurrent creator winning
                raise
    return tpl


def create(dest: Path, pins: Pins | None = None) -> str:
    """Make ``dest`` a fresh repo at the pristine commit; return that commit id."""
    p = pins or load_pins()
    tpl = template(p)
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    env = bot_env(p)
    git(
        tpl.parent,
        "clone",
        "--quiet",
        "--no-hardlinks",
        "--branch",
        "main",
        str(tpl),
        str(dest),
        env=env,
    )
    git(dest, "remote", "remove", "origin", env=env)
    head = git(dest, "rev-parse", "HEAD", env=env).stdout.strip()
    tagged = git(dest, "rev-parse", f"{p.base_tag}^{{commit}}", env=env).stdout.strip()
    if head != tagged:
        msg = f"template repo {tpl} is inconsistent; delete it"
        raise ToolError(msg)
    return head
