"""``python -m scanpy_kernels.verify [TARGET ...] [--json]``."""

from __future__ import annotations

import argparse
import os
import sys

from . import verify


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m scanpy_kernels.verify", description=__doc__
    )
    parser.add_argument(
        "targets", nargs="*", help="module, package or .py path (default: all kernels)"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--jobs", "-j", type=int, default=os.cpu_count() or 1,
        help="worker processes (default: all cores; 1: in this process)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    report = verify(args.targets or None, jobs=args.jobs)
    print(report.to_json() if args.json else report.to_table())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
