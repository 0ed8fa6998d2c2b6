"""Per-field tolerance rules, parsed from the table in ``TOLERANCES.md``.

The markdown file is the single source of truth (reasons included); this module
only parses and validates it. A field that no rule matches is compared exactly.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TOLERANCES_MD = Path(__file__).with_name("TOLERANCES.md")
_START, _END = "<!-- rules:start -->", "<!-- rules:end -->"
FLOAT_DTYPES = ("float64", "float32", "*")

# Fields whose meaning is discrete: compared exactly whatever the rules say.
ALWAYS_EXACT = (
    "*@*",
    "error/*",
    "mutated/*",
    "mutation/*",
    "warnings",
    "X",
    "*highly_variable",
    "*highly_variable_rank",
    "*highly_variable_nbatches",
    "*highly_variable_intersection",
    "*mean_bin",
    "*/names/*",
    "*/index",
    "shape",
)
#: always-exact fields a family computes as floats: there a rule may bound them
#: (``X`` is kept or subset everywhere else; ``regress_out`` computes it)
COMPUTED = {"X": ("regress",)}


@dataclass(frozen=True)
class Rule:
    family: str
    pattern: str
    dtype: str
    rtol: float
    atol: float
    reason: str

    def matches(self, family: str, field: str, dtype: str) -> bool:
        return (
            fnmatch.fnmatchcase(family, self.family)
            and fnmatch.fnmatchcase(normalize_field(field), self.pattern)
            and (self.dtype in {"*", dtype})
        )

    @property
    def label(self) -> str:
        return f"rtol={self.rtol:g} atol={self.atol:g}"


EXACT = Rule("*", "*", "*", 0.0, 0.0, "default: no rule, exact")
FORCED_EXACT = Rule("*", "*", "*", 0.0, 0.0, "always exact (discrete meaning)")


def normalize_field(field: str) -> str:
    """``return/`` (inplace=False, copy=True) and ``var/`` prefixes removed."""
    return field.removeprefix("return/").removeprefix("var/")


def _cells(line: str) -> list[str]:
    # split on | that is not escaped as \|
    parts = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [p.strip().replace("\\|", "|") for p in parts]


def parse(text: str) -> tuple[Rule, ...]:
    if _START not in text or _END not in text:
        msg = f"TOLERANCES.md lacks the {_START} ... {_END} table"
        raise ValueError(msg)
    body = text.split(_START, 1)[1].split(_END, 1)[0]
    rows = [ln for ln in body.splitlines() if ln.strip().startswith("|")]
    header, _sep, *data = rows
    if _cells(header) != ["family", "field", "dtype", "rtol", "atol", "reason"]:
        msg = f"unexpected TOLERANCES.md header: {header}"
        raise ValueError(msg)
    rules = []
    for row in data:
        family, pattern, dtype, rtol, atol, reason = _cells(row)
        rule = Rule(family, pattern.strip("`"), dtype, float(rtol), float(atol), reason)
        validate(rule)
        rules.append(rule)
    return tuple(rules)


def validate(rule: Rule) -> None:
    if rule.dtype not in FLOAT_DTYPES:
        msg = f"{rule}: dtype must be one of {FLOAT_DTYPES}"
        raise ValueError(msg)
    if not (0 <= rule.rtol < 1e-3 and 0 <= rule.atol < 1e-3):
        msg = f"{rule}: tolerances must be small non-negative numbers"
        raise ValueError(msg)
    if not rule.reason:
        msg = f"{rule}: every tolerance needs a reason"
        raise ValueError(msg)
    if rule.pattern.strip("*/") == "":
        msg = f"rule {rule.pattern!r} is a catch-all; name the field"
        raise ValueError(msg)


@cache
def rules(path: Path = TOLERANCES_MD) -> tuple[Rule, ...]:
    return parse(path.read_text(encoding="utf-8"))


def always_exact(field: str, family: str | None = None) -> bool:
    name = normalize_field(field)
    if family is not None and family in COMPUTED.get(name, ()):
        return False
    return any(fnmatch.fnmatchcase(name, pat) for pat in ALWAYS_EXACT)


def rule_for(family: str, field: str, dtype: str) -> Rule:
    if always_exact(field, family):
        return FORCED_EXACT
    for rule in rules():
        if rule.matches(family, field, dtype):
            return rule
    return EXACT
