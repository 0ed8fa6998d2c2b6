"""The migration tools: sdist pin, vendoring (patch 0001), fork build/apply/export, envs, gates.

Every module is stdlib-only (Python >= 3.11 and ``git``), so it runs from any
interpreter, inside or outside the nox environments. Run them from the repository
root as modules, e.g. ``python -m tools.fork build``, ``python -m tools.vendor --check``,
``python -m tools.pipeline series``, ``python -m tools.envs python312``.
"""

import sys

# noxw and .ci/run start the tools with any python3: say so if it is too old (tomllib)
if sys.version_info < (3, 11):  # noqa: UP036 (ruff targets the package's 3.12)
    sys.exit(f"tools need Python >= 3.11, not {sys.version.split()[0]} ({sys.executable})")
