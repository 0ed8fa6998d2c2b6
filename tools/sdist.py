"""Fetch and verify the pinned scanpy sdist (pins/scanpy.toml).

The sdist is downloaded once from PyPI with
``pip download --no-deps --no-binary :all: scanpy==<version>`` into
``build/cache/sdist/`` and its sha256 is checked on every download *and* every use:
a file whose hash differs from the pin is refused, never used.

Usage::

    python -m tools.sdist fetch [--from FILE]   # download (or import FILE) + verify
    python -m tools.sdist path                  # print the verified path
    python -m tools.sdist extract DEST          # verified extraction to DEST
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

from ._common import BUILD_DIR, Pins, ToolError, load_pins, log, run

CACHE_ENV = "SCANPY_KERNELS_SDIST_CACHE"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV, BUILD_DIR / "cache" / "sdist"))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, pins: Pins | None = None) -> Path:
    """Return ``path`` if its sha256 is the pinned one, else raise."""
    p = pins or load_pins()
    actual = sha256_of(path)
    if actual != p.sha256:
        msg = (
            f"REFUSING {path}: sha256 mismatch for scanpy {p.version} sdist\n"
            f"  expected {p.sha256} (pins/scanpy.toml)\n"
            f"  got      {actual}\n"
            f"The file is not the pinned upstream release. Delete it to re-download, "
            f"or update the pin deliberately (see docs/applying-the-series.md)."
        )
        raise ToolError(msg)
    return path


def _pip_download(dest: Path, version: str) -> None:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"scanpy=={version}",
        "--dest",
        str(dest),
    ]
    has_pip = run([sys.executable, "-m", "pip", "--version"], check=False).returncode == 0
    if not has_pip and (pip := shutil.which("pip")):
        cmd[:3] = [pip]
    run(cmd)


def fetch(pins: Pins | None = None, *, source: Path | None = None) -> Path:
    """Return the verified cached sdist, downloading (or importing ``source``) once."""
    p = pins or load_pins()
    target = cache_dir() / p.sdist
    if target.exists():
        return verify(target, p)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        tmp_dir = Path(tmp)
        if source is not None:
            log(f"importing {source} into the sdist cache")
            shutil.copyfile(source, tmp_dir / p.sdist)
        else:
            log(f"downloading scanpy=={p.version} sdist from PyPI")
            _pip_download(tmp_dir, p.version)
        got = tmp_dir / p.sdist
        if not got.exists():
            found = ", ".join(x.name for x in tmp_dir.iterdir()) or "nothing"
            msg = f"pip download produced {found}, expected {p.sdist}"
            raise ToolError(msg)
        verify(got, p)
        got.replace(target)
    log(f"sdist verified: {target}")
    return target


def verified_path(pins: Pins | None = None) -> Path:
    """The cached sdist, verified now (every use re-checks the hash)."""
    return fetch(pins)


def extract(dest: Path, pins: Pins | None = None) -> Path:
    """Extract the verified sdist so that ``dest`` is its top-level directory."""
    p = pins or load_pins()
    sdist = verified_path(p)
    prefix = p.sdist.removesuffix(".tar.gz")
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp, tarfile.open(sdist) as tf:
        tf.extractall(tmp, filter="data")
        root = Path(tmp) / prefix
        if not root.is_dir():
            msg = f"{sdist} has no top-level {prefix}/ directory"
            raise ToolError(msg)
        root.replace(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download or import the sdist and verify it")
    f.add_argument("--from", dest="source", type=Path, help="local copy to import")
    sub.add_parser("path", help="print the verified sdist path")
    e = sub.add_parser("extract", help="extract the verified sdist")
    e.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.cmd == "fetch":
            print(fetch(source=args.source))
        elif args.cmd == "path":
            print(verified_path())
        else:
            print(extract(args.dest))
    except ToolError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
