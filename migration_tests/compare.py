"""Compare two ``run_cases`` outputs field by field (pristine vs patched).

Usage::

    python -m migration_tests.compare PRISTINE.pkl PATCHED.pkl \
        [--family hvg] [--all] [--report build/migration/report.tsv]

Every field is compared exactly unless ``TOLERANCES.md`` gives it a rule (see
there for the policy). Prints one row per (case, field) that is not
bit-identical, a per-family/field summary with the largest differences seen,
and exits 1 on any mismatch, missing/extra case or field, or status change.

Two differences are accepted, and reported as ``improved`` (see ``TOLERANCES.md``):
an input matrix that pristine rewrote in place *without changing its values*
(storage only, e.g. ``eliminate_zeros()`` on the caller's matrix) and that patched
leaves untouched; and warnings that only anndata raised in pristine while it built
AnnData objects or views internally (to subset the data per batch, or to hold
intermediate results), when patched raises every other warning pristine did and no
new one.
"""

from __future__ import annotations

import argparse
import math
import pickle
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .tolerances import Rule, normalize_field, rule_for

IDENTICAL, CLOSE, MISMATCH, SKIPPED = "identical", "close", "MISMATCH", "skipped"
IMPROVED = "improved"
_WORST = (MISMATCH, IMPROVED, CLOSE, IDENTICAL)
STORAGE_RULE = "pristine-storage-mutation"
STORAGE_NOTE = (
    "pristine rewrote this input's storage in place (values unchanged); patched leaves it untouched"
)
PANDAS4_WARNING_RULE = "pristine-pandas4-warning"
PANDAS4_WARNING_NOTE = (
    "only pristine ran code that uses pandas APIs deprecated for pandas 4 (anndata building "
    "AnnData objects/views; scanpy's own sort_values(inplace=True))"
)
#: ``pandas.errors.Pandas4Warning``s that only code paths pristine runs raise. anndata,
#: while it builds an AnnData or a view, reads or sets pandas options that pandas 3
#: deprecates: ``mode.chained_assignment`` (set around ``remove_unused_categories`` in a
#: view of categorical ``obs`` columns) and ``future.infer_string`` (read by
#: ``anndata.compat.pandas_as_str`` when an obs/var index is not of string dtype).
#: scanpy 1.12.4 merges the batches of hvg flavors seurat/cell_ranger with
#: ``df.sort_values(..., inplace=True)`` (deprecated in pandas 3.1).  They tell which
#: code ran, nothing about the results
PRISTINE_ONLY_WARNINGS = (
    "pandas.errors.Pandas4Warning: The 'mode.chained_assignment' option is deprecated.",
    "pandas.errors.Pandas4Warning: The 'future.infer_string' option is deprecated",
    "pandas.errors.Pandas4Warning: The inplace keyword in DataFrame.sort_values is deprecated",
)


@dataclass(frozen=True)
class Row:
    case: str
    family: str
    field: str
    max_abs: float
    max_rel: float
    verdict: str
    rule: str
    note: str = ""


def _float_diffs(a: np.ndarray, b: np.ndarray) -> tuple[float, float, np.ndarray]:
    """max |a-b|, max |a-b|/|b| over finite pairs, and the finite mask."""
    finite = np.isfinite(a) & np.isfinite(b)
    if not finite.any():
        return 0.0, 0.0, finite
    af, bf = a[finite].astype(np.float64), b[finite].astype(np.float64)
    diff = np.abs(af - bf)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff == 0, 0.0, diff / np.abs(bf))
    return float(diff.max()), float(rel.max()), finite


def _nonfinite_same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(
        np.array_equal(np.isnan(a), np.isnan(b))
        and np.array_equal(np.isposinf(a), np.isposinf(b))
        and np.array_equal(np.isneginf(a), np.isneginf(b))
    )


def _compare_floats(a: np.ndarray, b: np.ndarray, rule: Rule) -> tuple[float, float, str, str]:
    if np.array_equal(a, b, equal_nan=True):
        return 0.0, 0.0, IDENTICAL, ""
    max_abs, max_rel, finite = _float_diffs(a, b)
    if not _nonfinite_same(a, b):
        n = int(np.sum(np.isfinite(a) != np.isfinite(b)))
        return max_abs, max_rel, MISMATCH, f"NaN/inf at different positions ({n})"
    af, bf = a[finite].astype(np.float64), b[finite].astype(np.float64)
    ok = bool(np.all(np.abs(bf - af) <= rule.atol + rule.rtol * np.abs(af)))
    loose = rule.rtol > 0 or rule.atol > 0
    return max_abs, max_rel, (CLOSE if ok and loose else MISMATCH), ""


def _compare_discrete(a: np.ndarray, b: np.ndarray) -> tuple[float, float, str, str]:
    if a.dtype.kind in "biu":
        if np.array_equal(a, b):
            return 0.0, 0.0, IDENTICAL, ""
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
        return (
            float(d.max()),
            math.nan,
            MISMATCH,
            f"{int(np.sum(d > 0))} elements differ",
        )
    flat_a, flat_b = a.ravel(), b.ravel()
    differ = [i for i, (x, y) in enumerate(zip(flat_a, flat_b, strict=True)) if x != y]
    if not differ:
        return 0.0, 0.0, IDENTICAL, ""
    i = differ[0]
    note = f"{len(differ)} elements differ, first at {i}: {flat_a[i]!r} vs {flat_b[i]!r}"
    return math.nan, math.nan, MISMATCH, note


def compare_arrays(a: np.ndarray, b: np.ndarray, rule: Rule) -> tuple[float, float, str, str]:
    """``a`` pristine, ``b`` patched -> (max_abs, max_rel, verdict, note)."""
    if a.shape != b.shape:
        return math.nan, math.nan, MISMATCH, f"shape {a.shape} vs {b.shape}"
    if a.dtype != b.dtype:
        return math.nan, math.nan, MISMATCH, f"dtype {a.dtype} vs {b.dtype}"
    if a.dtype.kind in "fc":
        return _compare_floats(a, b, rule)
    return _compare_discrete(a, b)


def compare_field(family: str, field: str, a: Any, b: Any) -> tuple[float, float, str, str, str]:
    if isinstance(a, float) and isinstance(b, float):
        a, b = np.asarray(a), np.asarray(b)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        rule = rule_for(family, field, str(a.dtype))
        label = rule.label if rule.rtol or rule.atol else "exact"
        return (*compare_arrays(a, b, rule), label)
    if type(a) is not type(b):
        return (
            math.nan,
            math.nan,
            MISMATCH,
            f"{type(a).__name__} vs {type(b).__name__}",
            "exact",
        )
    if a == b:
        return 0.0, 0.0, IDENTICAL, "", "exact"
    return math.nan, math.nan, MISMATCH, f"{_short(a)} vs {_short(b)}", "exact"


def _short(v: Any, n: int = 160) -> str:
    s = repr(v)
    return s if len(s) <= n else s[: n - 3] + "..."


def load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        data = pickle.load(f)
    if data.get("format") != 1:
        msg = f"{path}: unknown format {data.get('format')!r}"
        raise SystemExit(msg)
    return data


def storage_mutations_avoided(fa: dict[str, Any], fb: dict[str, Any]) -> set[str]:
    """Input matrices that pristine rewrote in place, storage only, and patched did not touch.

    Pristine must have recorded ``mutation/<key> == "storage"`` (the harness checked
    that the values are unchanged), patched ``mutated/<key> is False``. A change of
    values, or a mutation patched makes and pristine does not, is never accepted.
    """
    keys = set()
    for field, value in fa.items():
        key = field.removeprefix("mutated/")
        if key == field or value is not True:
            continue
        if (
            fb.get(field) is False
            and fa.get(f"mutation/{key}") == "storage"
            and f"mutation/{key}" not in fb
        ):
            keys.add(key)
    return keys


def pristine_only_warnings_avoided(fa: dict[str, Any], fb: dict[str, Any]) -> bool:
    """Whether patched's warnings are pristine's minus `PRISTINE_ONLY_WARNINGS` only."""
    wa, wb = fa.get("warnings"), fb.get("warnings")
    if not isinstance(wa, tuple) or not isinstance(wb, tuple) or wa == wb:
        return False
    gone = set(wa) - set(wb)
    return set(wb) <= set(wa) and all(w.startswith(PRISTINE_ONLY_WARNINGS) for w in gone)


def _storage_rule_fields(keys: set[str], fa: dict[str, Any], fb: dict[str, Any]) -> set[str]:
    """The fields that differ only because of :func:`storage_mutations_avoided`."""
    out: set[str] = set()
    for key in keys:
        out |= {f"mutated/{key}", f"mutation/{key}"}
        if key == "X":  # the harness records X when it was mutated: pristine only
            out |= {f for f in ("X", "X@type", "X@shape") if f in fa and f not in fb}
    return out


def compare_case(cid: str, ra: dict[str, Any], rb: dict[str, Any]) -> list[Row]:
    fam = ra.get("family") or rb.get("family", "?")
    sa, sb = ra["status"], rb["status"]
    if sa == "unavailable" and sb == "unavailable":
        return [Row(cid, fam, "input", 0.0, 0.0, SKIPPED, "-", ra.get("reason", ""))]
    if "harness-error" in {sa, sb} or sa != sb:
        note = f"status {sa} vs {sb}"
        if sb == "error" or sa == "error":
            fa, fb = ra["fields"], rb["fields"]
            note += f": {fa.get('error/type', '')} {fa.get('error/message', '')!s:.120} | "
            note += f"{fb.get('error/type', '')} {fb.get('error/message', '')!s:.120}"
        if "harness-error" in {sa, sb}:
            note += " " + (ra.get("reason") or rb.get("reason", "")).strip().splitlines()[-1]
        return [Row(cid, fam, "status", math.nan, math.nan, MISMATCH, "exact", note)]
    fa, fb = ra["fields"], rb["fields"]
    accepted = _storage_rule_fields(storage_mutations_avoided(fa, fb), fa, fb)
    pandas4_warnings = pristine_only_warnings_avoided(fa, fb)
    rows = []
    for field in sorted(set(fa) | set(fb)):
        if field in accepted:
            rows.append(Row(cid, fam, field, 0.0, 0.0, IMPROVED, STORAGE_RULE, STORAGE_NOTE))
        elif field == "warnings" and pandas4_warnings:
            rows.append(
                Row(cid, fam, field, 0.0, 0.0, IMPROVED, PANDAS4_WARNING_RULE, PANDAS4_WARNING_NOTE)
            )
        elif field not in fb:
            rows.append(
                Row(
                    cid,
                    fam,
                    field,
                    math.nan,
                    math.nan,
                    MISMATCH,
                    "exact",
                    "absent in patched",
                )
            )
        elif field not in fa:
            rows.append(
                Row(
                    cid,
                    fam,
                    field,
                    math.nan,
                    math.nan,
                    MISMATCH,
                    "exact",
                    "only in patched",
                )
            )
        else:
            max_abs, max_rel, verdict, note, rule = compare_field(fam, field, fa[field], fb[field])
            rows.append(Row(cid, fam, field, max_abs, max_rel, verdict, rule, note))
    return rows


def compare(a: dict[str, Any], b: dict[str, Any], families: list[str] | None) -> list[Row]:
    ca, cb = a["cases"], b["cases"]

    def keep(r: dict[str, Any]) -> bool:
        return not families or r.get("family") in families

    rows: list[Row] = []
    for cid in sorted(set(ca) | set(cb)):
        ra, rb = ca.get(cid), cb.get(cid)
        if ra is not None and rb is not None:
            if keep(ra):
                rows.extend(compare_case(cid, ra, rb))
        elif ra is not None and keep(ra):
            rows.append(
                Row(
                    cid,
                    ra["family"],
                    "case",
                    math.nan,
                    math.nan,
                    MISMATCH,
                    "-",
                    "not run in patched",
                )
            )
        elif rb is not None and keep(rb):
            rows.append(
                Row(
                    cid,
                    rb["family"],
                    "case",
                    math.nan,
                    math.nan,
                    MISMATCH,
                    "-",
                    "not run in pristine",
                )
            )
    return rows


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else ("0" if x == 0 else f"{x:.3g}")


def print_table(rows: list[Row], out: Any = sys.stdout) -> None:
    if not rows:
        return
    w = min(max(len(r.case) for r in rows), 110)
    fw = min(max(len(r.field) for r in rows), 60)
    print(
        f"{'case':<{w}}  {'field':<{fw}}  {'max abs':>9}  {'max rel':>9}  verdict   tolerance / note",
        file=out,
    )
    for r in rows:
        extra = r.rule + (f"  {r.note}" if r.note else "")
        print(
            f"{r.case:<{w}}  {r.field:<{fw}}  {_fmt(r.max_abs):>9}  {_fmt(r.max_rel):>9}  {r.verdict:<8}  {extra}",
            file=out,
        )


def summarize(rows: list[Row]) -> list[tuple[str, str, str, int, float, float, str]]:
    agg: dict[tuple[str, str, str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.verdict == SKIPPED or "@" in r.field:
            continue
        field = normalize_field(r.field)
        parts = field.split("/")
        if parts[0] == "uns" and len(parts) > 3:  # uns/<key>/<stat>/<group>
            field = f"uns/*/{parts[2]}/*"
        agg[(r.family, field, r.rule)].append(r)
    out = []
    for (fam, field, rule), rs in sorted(agg.items()):
        abs_ = [r.max_abs for r in rs if not math.isnan(r.max_abs)]
        rel = [r.max_rel for r in rs if not math.isnan(r.max_rel)]
        worst = next(v for v in _WORST if v == IDENTICAL or any(r.verdict == v for r in rs))
        out.append(
            (
                fam,
                field,
                rule,
                len(rs),
                max(abs_, default=math.nan),
                max(rel, default=math.nan),
                worst,
            )
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pristine", type=Path)
    parser.add_argument("patched", type=Path)
    parser.add_argument("--family", action="append", help="only these families")
    parser.add_argument("--all", action="store_true", help="print identical rows too")
    parser.add_argument("--report", type=Path, help="write every row as TSV")
    args = parser.parse_args(argv)
    a, b = load(args.pristine), load(args.patched)
    rows = compare(a, b, args.family)
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        with args.report.open("w") as f:
            f.write("case\tfamily\tfield\tmax_abs\tmax_rel\tverdict\ttolerance\tnote\n")
            for r in rows:
                f.write(
                    f"{r.case}\t{r.family}\t{r.field}\t{r.max_abs}\t{r.max_rel}\t{r.verdict}\t{r.rule}\t{r.note}\n"
                )
    shown = rows if args.all else [r for r in rows if r.verdict != IDENTICAL]
    print_table(shown)
    print("\nper family / field (worst over cases):")
    print(
        f"  {'family':<18} {'field':<34} {'tolerance':<24} {'n':>5} {'max abs':>9} {'max rel':>9}  verdict"
    )
    for fam, field, rule, n, mabs, mrel, verdict in summarize(rows):
        print(
            f"  {fam:<18} {field:<34.34} {rule:<24} {n:>5} {_fmt(mabs):>9} {_fmt(mrel):>9}  {verdict}"
        )
    counts: dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r.verdict] += 1
    cases = {r.case for r in rows}
    bad_cases = sorted({r.case for r in rows if r.verdict == MISMATCH})
    skipped = sorted({r.case for r in rows if r.verdict == SKIPPED})
    print(
        f"\n{len(cases)} cases, {len(rows)} fields: "
        + ", ".join(f"{counts[v]} {v}" for v in (IDENTICAL, CLOSE, IMPROVED, MISMATCH, SKIPPED))
    )
    for rule, what in (
        (
            STORAGE_RULE,
            "pristine rewrote an input matrix in place (values unchanged), "
            "patched leaves it untouched",
        ),
        (
            PANDAS4_WARNING_RULE,
            "pristine raised pandas-4 deprecation warnings from code patched no longer runs",
        ),
    ):
        improved = sorted({r.case for r in rows if r.verdict == IMPROVED and r.rule == rule})
        if improved:
            print(f"{len(improved)} cases: {what} ({rule}, TOLERANCES.md), e.g. {improved[0]}")
    print(
        f"pristine: {a['environment'].get('scanpy')}  patched: {b['environment'].get('scanpy')} "
        f"(scanpy._kernels {b['environment'].get('scanpy._kernels')})"
    )
    if skipped:
        print(f"{len(skipped)} cases skipped on both sides (input unavailable), e.g. {skipped[0]}")
    if bad_cases:
        print(f"EQUIVALENCE FAILED: {len(bad_cases)} cases differ, e.g. {bad_cases[0]}")
        return 1
    if not cases:
        print("EQUIVALENCE FAILED: no cases compared")
        return 1
    print("EQUIVALENT: every field identical or within its documented tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
