"""asv suites for the scanpy kernel layer (``asv.conf.json`` at the repository root).

asv imports this package from ``benchmarks/suites/``; the shared helpers
(``benchmarks/_data.py``, ``benchmarks/_speed_cases.py``) live one level up.
"""

from __future__ import annotations

import sys
from pathlib import Path

_HELPERS = str(Path(__file__).resolve().parents[1])
if _HELPERS not in sys.path:
    sys.path.insert(0, _HELPERS)
