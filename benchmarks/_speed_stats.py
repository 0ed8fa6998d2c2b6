"""Reduce speed.py's raw runs to the numbers the report shows (no formatting here)."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

from _data import shape_of

Runs = list[dict[str, Any]]


def med(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _case_results(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in run["result"].get("cases", {}).items() if "times" in v}


def paired(runs: Runs, section: str, a: str = "pristine", b: str = "patched",
           key: str = "side") -> dict[tuple[str, str], dict[str, Any]]:
    """``(data, fmt) -> case -> stats`` of alternated A/B processes of ``section``.

    Per process the median of its timed calls; per side the median of those; the
    speed-up is the median over pairs of ``A_k / B_k`` (same pair index ``k``).
    """
    acc: dict[tuple[str, str], dict[str, Any]] = defaultdict(lambda: defaultdict(lambda: {
        "a": {}, "b": {}, "ca": {}, "cb": {}, "ba": {}, "bb": {}, "mem_a": [], "mem_b": [],
        "skip": None}))
    for run in runs:
        if run["section"] != section:
            continue
        side = run[key] if key != "threads" else run["threads"]
        if side not in (a, b):
            continue
        slot = "a" if side == a else "b"
        d = acc[(run["tag"]["data"], run["tag"]["fmt"])]
        for case, info in run["result"].get("cases", {}).items():
            if "times" not in info:
                d[case]["skip"] = info.get("skipped") or info.get("error")
                continue
            d[case][slot][run["tag"]["pair"]] = med(info["times"])
            if info.get("cpu_times"):
                d[case]["c" + slot][run["tag"]["pair"]] = med(info["cpu_times"])
                # over all the calls: Linux adds another thread's CPU time at its next
                # tick or switch, so one call of ~1 ms shows its main thread only
                d[case]["b" + slot][run["tag"]["pair"]] = sum(info["cpu_times"]) / sum(
                    info["times"])
            if info.get("peak_delta") is not None:
                d[case][f"mem_{slot}"].append(info["peak_delta"])
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for key_, cases in acc.items():
        out[key_] = {}
        for case, c in cases.items():
            ratios = [c["a"][k] / c["b"][k] for k in c["a"] if k in c["b"] and c["b"][k]]
            cpu = [c["ca"][k] / c["cb"][k] for k in c["ca"] if k in c["cb"] and c["cb"][k]]
            # CPU seconds per wall second of each side (threads kept busy; ≤ threads)
            busy = {s: med(list(c["b" + s].values())) for s in ("a", "b")}
            out[key_][case] = {
                "cpu_ratio": med(cpu), "busy_a": busy["a"], "busy_b": busy["b"],
                "a": med(list(c["a"].values())), "b": med(list(c["b"].values())),
                "ratio": med(ratios), "ratios": ratios,
                "mem_a": med(c["mem_a"]), "mem_b": med(c["mem_b"]), "skip": c["skip"],
            }
    return out


def public(runs: Runs) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``(impl, data, fmt) -> case -> {"t", "mem"}`` (or ``{"skip"}``)."""
    out: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(dict)
    for run in runs:
        if run["section"] != "public":
            continue
        k = (run["side"], run["tag"]["data"], run["tag"]["fmt"])
        if "error" in run["result"]:
            out[k]["_error"] = run["result"]["error"]
        for case, info in run["result"].get("cases", {}).items():
            if "times" in info:
                out[k][case] = {"t": med(info["times"]), "mem": info.get("peak_delta")}
            else:
                out[k][case] = {"skip": info.get("skipped") or info.get("error")}
    return out


def scaling(runs: Runs) -> dict[str, dict[str, list[tuple[int, float, float]]]]:
    """``case -> side -> [(n_cells, median s)]`` over the scaling and pairs sections (csr)."""
    pts: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for run in runs:
        if run["section"] not in ("scaling", "pairs") or run["tag"].get("fmt") != "csr":
            continue
        shape = shape_of(run["tag"]["data"])
        if shape is None or shape[1] != 5000:  # the series: 5,000 genes, varying cells
            continue
        for case, info in _case_results(run).items():
            pts[(case, run["side"], shape[0])].append(med(info["times"]))
    out: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for (case, side, n), ts in sorted(pts.items()):
        out[case][side].append((n, med(ts)))
    return out


def compile_times(runs: Runs) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``(case, side, cache) -> {"first", "steady", "import"}``: one process per case.

    ``first`` is the first call (compile, or loading the cache, plus one call),
    ``steady`` the second.
    """
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for run in runs:
        if run["section"] != "compile":
            continue
        cases = _case_results(run)
        for case in run["job"]["cases"]:
            key = (case, run["side"], run["cache"])
            if case not in cases:
                out[key] = {"error": run["result"].get("error", "did not run")}
                continue
            out[key] = {
                "first": cases[case]["times"][0],
                "steady": cases[case]["times"][-1],
                "import": run["result"].get("import_s"),
            }
    return out


def probe(runs: Runs) -> dict[str, Any] | None:
    for run in runs:
        if run["section"] == "probe":
            return run["result"]
    return None


def versions(runs: Runs) -> dict[str, dict[str, str]]:
    """Per side: package versions reported by its workers, and whether it has kernels."""
    out: dict[str, dict[str, str]] = {}
    for run in runs:
        r = run["result"]
        if "versions" in r and run["side"] not in out:
            out[run["side"]] = {**r["versions"], "scanpy._kernels": str(r.get("kernels"))}
    return out
