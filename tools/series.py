"""The patch series: ``patches/series`` parsing, trailers and patch normalization.

``patches/series`` lists one patch file name per line, in application order;
blank lines and ``#`` comments are ignored. A patch declares the scanpy function
families it migrates with a commit-message trailer, e.g. ``Migrates: hvg`` or
``Migrates: hvg, rank_genes_groups``.

Usage::

    python -m tools.series list                 # index, file, migrated families
    python -m tools.series diff A.patch B.patch # compare modulo volatile headers
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from ._common import PATCHES_DIR, ToolError

SERIES_NAME = "series"
MIGRATES_TRAILER = "Migrates"

_FROM_LINE = re.compile(r"^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001$", re.M)
_SUBJECT_NUM = re.compile(r"^Subject: \[PATCH [0-9]+/[0-9]+\]", re.M)
_INDEX_LINE = re.compile(r"^index [0-9a-f]+\.\.[0-9a-f]+", re.M)
_SIGNATURE = re.compile(r"\n-- \n[^\n]*\n*\Z")


@dataclass(frozen=True)
class Patch:
    index: int  # 1-based position in the series
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def subject(self) -> str:
        m = re.search(r"^Subject: (?:\[PATCH[^\]]*\] )?(.*)$", self.text(), re.M)
        return m.group(1) if m else self.name

    @property
    def migrates(self) -> tuple[str, ...]:
        return migrated_families(self.text())


def read_series(patches_dir: Path = PATCHES_DIR) -> list[Patch]:
    series_file = patches_dir / SERIES_NAME
    if not series_file.exists():
        msg = f"{series_file} does not exist"
        raise ToolError(msg)
    patches: list[Patch] = []
    for raw in series_file.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        path = patches_dir / line
        if not path.is_file():
            msg = f"{series_file} lists {line}, which does not exist"
            raise ToolError(msg)
        patches.append(Patch(len(patches) + 1, path))
    return patches


def write_series(patches_dir: Path, names: list[str]) -> None:
    header = (
        "# Patch series against the pinned scanpy sdist (pins/scanpy.toml),\n"
        "# applied in this order by tools/fork.py. One file name per line.\n"
    )
    (patches_dir / SERIES_NAME).write_text(header + "".join(f"{n}\n" for n in names))


def commit_message(patch_text: str) -> str:
    """The commit message (subject + body) of a ``git format-patch`` file."""
    head, _, _ = patch_text.partition("\n---\n")
    _, _, message = head.partition("\n\n")
    subject = re.search(r"^Subject: (?:\[PATCH[^\]]*\] )?(.*)$", head, re.M)
    return (subject.group(1) if subject else "") + "\n\n" + message


def migrated_families(patch_text: str) -> tuple[str, ...]:
    families: list[str] = []
    for m in re.finditer(rf"^{MIGRATES_TRAILER}:[ \t]*(.*)$", commit_message(patch_text), re.M):
        families.extend(f.strip() for f in m.group(1).split(",") if f.strip())
    return tuple(dict.fromkeys(families))


def normalize(patch_text: str) -> str:
    """Drop the volatile parts of a format-patch file.

    Volatile: the commit id in the mbox ``From`` line, ``[PATCH n/m]`` numbering,
    abbreviated blob ids on ``index`` lines (their length depends on the repo) and
    the trailing git-version signature. Everything else, including author, date,
    message and diff, must match.
    """
    text = patch_text.replace("\r\n", "\n")
    text = _FROM_LINE.sub("From 0 Mon Sep 17 00:00:00 2001", text)
    text = _SUBJECT_NUM.sub("Subject: [PATCH]", text)
    text = _INDEX_LINE.sub("index X..X", text)
    return _SIGNATURE.sub("\n", text)


def patch_diff(a_text: str, b_text: str, a_name: str, b_name: str) -> str:
    """Unified diff of two patches modulo volatile headers ('' when equivalent)."""
    na, nb = normalize(a_text), normalize(b_text)
    if na == nb:
        return ""
    return "".join(
        difflib.unified_diff(
            na.splitlines(keepends=True),
            nb.splitlines(keepends=True),
            fromfile=a_name,
            tofile=b_name,
            n=2,
        )
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="list the series")
    ls.add_argument("--patches", type=Path, default=PATCHES_DIR)
    d = sub.add_parser("diff", help="compare two patches modulo volatile headers")
    d.add_argument("a", type=Path)
    d.add_argument("b", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "list":
            for p in read_series(args.patches):
                fams = ",".join(p.migrates) or "-"
                print(f"{p.index}\t{p.name}\t{fams}")
            return 0
        out = patch_diff(
            args.a.read_text(encoding="utf-8"),
            args.b.read_text(encoding="utf-8"),
            str(args.a),
            str(args.b),
        )
    except ToolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    return 1 if out else 0


if __name__ == "__main__":
    sys.exit(main())
