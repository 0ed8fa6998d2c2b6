"""speed.py's PNG plots (matplotlib, Agg): speed-up per function, time vs cells."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _plt() -> Any:
    import matplotlib  # a scanpy dependency; absent -> ImportError, caller skips the plot

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _times_axis(ax: Any) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}\u00d7"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def speedup(pairs: dict[tuple[str, str], dict[str, Any]], path: Path, title: str) -> bool:
    """Bars from 1: median paired speed-up per case (whiskers: min-max over pairs)."""
    from _speed_cases import CASES

    groups = [(k, v) for k, v in sorted(pairs.items()) if any(c["ratio"] for c in v.values())]
    if not groups:
        return False
    try:
        plt = _plt()
    except ImportError:
        return False
    cases = [c for c in CASES if any((v.get(c) or {}).get("ratio") for _, v in groups)]
    h = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(cases) * len(groups) + 1.6))
    every = []
    for i, ((data, fmt), v) in enumerate(groups):
        for j, case in enumerate(cases):
            c = v.get(case) or {}
            x = c.get("ratio")
            if not x:
                continue
            y = j + i * h
            lo, hi = min(c["ratios"]), max(c["ratios"])
            every += [lo, hi, x]
            ax.barh(y, x - 1, left=1, height=h, color=f"C{i}", label=f"{data} {fmt}" if j == 0 else None)
            if len(c["ratios"]) > 1:
                ax.plot([lo, hi], [y, y], color="k", lw=0.8)
            ax.text(max(x, hi, 1) * 1.03, y, f"{x:.2g}\u00d7", va="center", fontsize=7)
    ax.set_yticks([j + 0.4 - h / 2 for j in range(len(cases))], cases)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlim(min(0.5, min(every) / 1.3), max(2.0, max(every) * 1.6))
    ax.axvline(1, color="k", lw=0.8)
    _times_axis(ax)
    ax.set_xlabel("speed-up of patched over pristine (median of paired ratios; whisker: range)")
    ax.set_title(title, fontsize=10)
    handles, labels = ax.get_legend_handles_labels()
    by = dict(zip(labels, handles, strict=True))
    ax.legend(by.values(), by.keys(), fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def scaling(series: dict[str, dict[str, list[tuple[int, float]]]], path: Path, title: str) -> bool:
    """Time vs number of cells (5,000 genes), pristine vs patched, one panel per case."""
    cases = [c for c, s in series.items() if max((len(p) for p in s.values()), default=0) >= 2]
    if not cases:
        return False
    try:
        plt = _plt()
    except ImportError:
        return False
    n = len(cases)
    cols = min(3, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    style = {"pristine": ("tab:gray", "o--"), "patched": ("tab:blue", "s-")}
    for ax, case in zip(axes.flat, cases, strict=False):
        for side, pts in sorted(series[case].items()):
            if side not in style:
                continue
            xs, ys = zip(*pts, strict=True)
            color, fmt = style[side]
            ax.plot(xs, ys, fmt, color=color, label=side)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(case, fontsize=9)
        ax.set_xlabel("cells (5,000 genes, 7% density)", fontsize=8)
        ax.set_ylabel("seconds", fontsize=8)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
