"""Make the stdlib-only tools and the harness modules importable in tests."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _p in (_HERE.parent / "tools", _HERE):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))
