"""Build a scanpy fork from the patch series, apply it elsewhere, export it back.

Subcommands::

    python -m tools.fork build [--upto N] [--out build/scanpy-fork]
        fresh git repo: commit 1 = pristine sdist (tag scanpy-<v>-sdist), then one
        commit per patch of patches/series (``git am``), deterministically.
    python -m tools.fork apply --repo PATH [--upto N]
        apply the series onto an existing scanpy checkout with ``git am -3``; on a
        failure the whole ``git am`` is aborted and the failing patch and the
        conflicting files are reported.
    python -m tools.fork export --repo PATH [--base REF] [--out patches]
        ``git format-patch`` the commits after REF back into patches/ and rewrite
        patches/series (the inverse of build: build -> export is byte-identical
        modulo volatile headers).
    python -m tools.fork touched --repo PATH [--base REF]
        files the series changes, relative to the base (for scanpy-tests).

Everything works offline once the sdist is cached (build/cache/).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from . import pristine
from ._common import (
    BUILD_DIR,
    FORMAT_PATCH_FLAGS,
    PATCHES_DIR,
    ToolError,
    bot_env,
    git,
    load_pins,
    log,
)
from .series import SERIES_NAME, Patch, patch_diff, read_series, write_series

DEFAULT_FORK = BUILD_DIR / "scanpy-fork"

_CONFLICT_PATTERNS = (
    re.compile(r"^error: patch failed: (.+?):\d+$", re.M),
    re.compile(r"^error: (.+?): does not exist in index$", re.M),
    re.compile(r"^error: (.+?): already exists in (?:index|working directory)$", re.M),
    re.compile(r"^error: (.+?): patch does not apply$", re.M),
    re.compile(r"^CONFLICT \([^)]*\): Merge conflict in (.+)$", re.M),
    re.compile(r"^CONFLICT \([^)]*\): (\S+) deleted in", re.M),
    # -3 without the preimage blob (a patch on top of an earlier patch of the series)
    re.compile(r"^error: invalid object \S+ \S+ for '(.+)'$", re.M),
)


class ApplyFailure(ToolError):
    """A patch of the series did not apply; ``str()`` is the user-facing report."""

    def __init__(
        self, patch: Patch, total: int, files: list[str], output: str, restored_to: str
    ) -> None:
        self.patch, self.total, self.files = patch, total, files
        self.output, self.restored_to = output, restored_to
        super().__init__(str(self))

    def __str__(self) -> str:
        files = "\n".join(f"    {f}" for f in self.files) or "    (git named none)"
        lines = [ln for ln in self.output.strip().splitlines() if not _am_advice(ln)]
        said = "\n".join(f"    {ln}" for ln in lines[-25:]) or "    (nothing)"
        return (
            f"SERIES FAILED TO APPLY at patch {self.patch.index}/{self.total}: "
            f"{self.patch.name}\n"
            f"  subject: {self.patch.subject}\n"
            f"  conflicting files:\n{files}\n"
            f"  git am said:\n{said}\n"
            f"  `git am --abort` ran: the repository is back at {self.restored_to[:12]}; "
            "no patch of this run was kept.\n"
            "  To carry the series forward see docs/applying-the-series.md "
            "(rebasing onto a newer scanpy)."
        )


def _am_advice(line: str) -> bool:
    """git am's resume/skip advice, which does not apply after our abort."""
    return line.startswith(("When you have", "If you prefer", "To restore", "hint:"))


def _git_path(repo: Path, name: str, env: dict[str, str] | None = None) -> Path:
    path = Path(git(repo, "rev-parse", "--git-path", name, env=env).stdout.strip())
    return path if path.is_absolute() else repo / path


def _select(patches_dir: Path, upto: int | None) -> list[Patch]:
    series = read_series(patches_dir)
    if upto is not None:
        if not 0 <= upto <= len(series):
            msg = f"--upto {upto} is outside 0..{len(series)}"
            raise ToolError(msg)
        series = series[:upto]
    return series


def _conflicting_files(repo: Path, output: str, env: dict[str, str]) -> list[str]:
    files = set(
        git(repo, "diff", "--name-only", "--diff-filter=U", env=env, check=False).stdout.split()
    )
    for pat in _CONFLICT_PATTERNS:
        files.update(m.group(1).strip() for m in pat.finditer(output))
    return sorted(files)


def _am(
    repo: Path,
    patches: list[Patch],
    *,
    three_way: bool,
    env: dict[str, str],
    extra: tuple[str, ...] = (),
) -> None:
    """``git am`` all patches in one go; on failure abort and raise a report."""
    if not patches:
        return
    start = git(repo, "rev-parse", "HEAD", env=env).stdout.strip()
    cmd = ["am", "--quiet", *(["-3"] if three_way else []), *extra]
    proc = git(repo, *cmd, *(str(p.path) for p in patches), env=env, check=False)
    if proc.returncode == 0:
        return
    output = (proc.stdout or "") + (proc.stderr or "")
    next_file = _git_path(repo, "rebase-apply/next", env)
    pos = int(next_file.read_text().strip()) if next_file.exists() else 1
    failing = patches[min(max(pos, 1), len(patches)) - 1]
    files = _conflicting_files(repo, output, env)
    git(repo, "am", "--abort", env=env, check=False)
    restored = git(repo, "rev-parse", "HEAD", env=env).stdout.strip()
    if restored != start:  # am --abort leaves HEAD alone when no commit was made
        git(repo, "reset", "--hard", "--quiet", start, env=env)
        restored = start
    raise ApplyFailure(failing, patches[-1].index, files, output, restored)


def build(
    out: Path = DEFAULT_FORK,
    *,
    patches_dir: Path = PATCHES_DIR,
    upto: int | None = None,
) -> list[Patch]:
    pins = load_pins()
    series = _select(patches_dir, upto)
    base = pristine.create(out, pins)
    env = bot_env(pins)
    _am(
        out,
        series,
        three_way=False,
        env=env,
        extra=("--committer-date-is-author-date",),
    )
    head = git(out, "rev-parse", "HEAD", env=env).stdout.strip()
    log(f"built {out}: pristine {base[:12]} + {len(series)} patch(es) -> {head[:12]}")
    for p in series:
        log(f"  {p.index:>3} {p.name}  [{', '.join(p.migrates) or '-'}]")
    return series


def _check_clean(repo: Path) -> None:
    if not (repo / ".git").exists():
        msg = f"{repo} is not a git checkout"
        raise ToolError(msg)
    if _git_path(repo, "rebase-apply").exists() or _git_path(repo, "rebase-merge").exists():
        msg = f"{repo} has a git am/rebase in progress; finish or abort it first"
        raise ToolError(msg)
    if git(repo, "status", "--porcelain", "--untracked-files=no").stdout.strip():
        msg = f"{repo} has uncommitted changes; commit or stash them first"
        raise ToolError(msg)


def apply(repo: Path, *, patches_dir: Path = PATCHES_DIR, upto: int | None = None) -> list[Patch]:
    _check_clean(repo)
    series = _select(patches_dir, upto)
    _am(repo, series, three_way=True, env={})
    log(f"applied {len(series)} patch(es) onto {repo}")
    return series


def _resolve_base(repo: Path, base: str | None) -> str:
    ref = base or load_pins().base_tag
    proc = git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if proc.returncode != 0:
        msg = f"base {ref!r} not found in {repo}; pass --base REF (the commit the series starts after)"
        raise ToolError(msg)
    return proc.stdout.strip()


def export(repo: Path, *, base: str | None = None, out: Path = PATCHES_DIR) -> list[Path]:
    base_rev = _resolve_base(repo, base)
    env = bot_env()
    if git(repo, "rev-list", "--merges", f"{base_rev}..HEAD").stdout.strip():
        msg = "the commits after the base contain merges; the series must be linear (rebase first)"
        raise ToolError(msg)
    with tempfile.TemporaryDirectory() as tmp:
        names = git(
            repo,
            "format-patch",
            *FORMAT_PATCH_FLAGS,
            "--start-number=1",
            "-o",
            tmp,
            f"{base_rev}..HEAD",
            env=env,
        ).stdout.split()
        if not names:
            msg = f"no commits after {base_rev[:12]} in {repo}"
            raise ToolError(msg)
        old = {p.name: p.text() for p in read_series(out)} if (out / SERIES_NAME).exists() else {}
        out.mkdir(parents=True, exist_ok=True)
        for stale in out.glob("[0-9][0-9][0-9][0-9]-*.patch"):
            stale.unlink()
        written = []
        for name in names:
            src = Path(name)
            shutil.copyfile(src, out / src.name)
            written.append(out / src.name)
    write_series(out, [w.name for w in written])
    for w in written:
        prev = old.get(w.name)
        state = (
            "new"
            if prev is None
            else (
                "changed" if patch_diff(prev, w.read_text(encoding="utf-8"), "a", "b") else "same"
            )
        )
        log(f"  {state:>7}  {w.name}")
    for gone in sorted(set(old) - {w.name for w in written}):
        log(f"  removed  {gone}")
    log(f"exported {len(written)} patch(es) from {repo} to {out}")
    return written


def touched(repo: Path, base: str | None = None) -> list[str]:
    base_rev = _resolve_base(repo, base)
    return git(repo, "diff", "--name-only", f"{base_rev}..HEAD").stdout.split()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build build/scanpy-fork from the series")
    b.add_argument("--out", type=Path, default=DEFAULT_FORK)
    b.add_argument("--patches", type=Path, default=PATCHES_DIR)
    b.add_argument("--upto", type=int, help="apply only the first N patches")
    a = sub.add_parser("apply", help="apply the series onto a scanpy checkout (git am -3)")
    a.add_argument("--repo", type=Path, required=True)
    a.add_argument("--patches", type=Path, default=PATCHES_DIR)
    a.add_argument("--upto", type=int)
    e = sub.add_parser("export", help="format-patch commits after --base into patches/")
    e.add_argument("--repo", type=Path, required=True)
    e.add_argument("--base", help="commit the series starts after (default: the sdist tag)")
    e.add_argument("--out", type=Path, default=PATCHES_DIR)
    t = sub.add_parser("touched", help="files changed by the series")
    t.add_argument("--repo", type=Path, default=DEFAULT_FORK)
    t.add_argument("--base")
    args = parser.parse_args(argv)
    for name in ("out", "patches", "repo"):  # git runs in other directories
        if isinstance(getattr(args, name, None), Path):
            setattr(args, name, getattr(args, name).resolve())
    try:
        if args.cmd == "build":
            build(args.out, patches_dir=args.patches, upto=args.upto)
        elif args.cmd == "apply":
            apply(args.repo, patches_dir=args.patches, upto=args.upto)
        elif args.cmd == "export":
            export(args.repo, base=args.base, out=args.out)
        else:
            print("\n".join(touched(args.repo, args.base)))
    except ToolError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
