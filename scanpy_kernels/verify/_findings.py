"""What the verifier reports: one :class:`Finding` per problem, grouped in a :class:`Report`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

__all__ = ["CHECKS", "Finding", "Report"]

#: check name -> what a failure of it means (the kernel guide explains each fix)
CHECKS = {
    "compile": "the kernel does not compile for a declared signature",
    "parallel": "a prange did not become a parallel loop",
    "race": "a write in a prange body may race across iterations",
    "python-api": "compiled code calls the Python C-API, object mode or print",
    "alloc-in-loop": "heap allocation inside a loop of the hot path",
    "index-error": "the kernel can raise IndexError (bounds checking)",
    "hint": "a loop hint did not become loop metadata or was not honoured",
    "threads": "1 thread and all threads give different results",
    "cache": "the kernel cannot be cached (dynamic globals): every process recompiles it",
    "example": "a parallel kernel without example inputs cannot be checked at run time",
}


@dataclass(frozen=True)
class Finding:
    kernel: str
    check: str
    message: str
    signature: str = ""
    line: int | None = None

    def __str__(self) -> str:
        where = f" line {self.line}" if self.line else ""
        sig = f" [{self.signature}]" if self.signature else ""
        return f"{self.kernel}{sig}: {self.check}{where}: {self.message}"


@dataclass
class Report:
    # kernel -> signatures checked
    kernels: dict[str, list[str]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def failed_checks(self, kernel: str) -> set[str]:
        return {f.check for f in self.findings if f.kernel == kernel}

    def to_json(self) -> str:
        return json.dumps(
            {
                "ok": self.ok,
                "kernels": {
                    k: {"signatures": sigs, "failed": sorted(self.failed_checks(k))}
                    for k, sigs in self.kernels.items()
                },
                "findings": [asdict(f) for f in self.findings],
            },
            indent=2,
        )

    def to_table(self) -> str:
        rows = [("kernel", "signatures", "result")]
        for k, sigs in self.kernels.items():
            failed = self.failed_checks(k)
            rows.append((
                k,
                str(len(sigs)),
                "FAIL: " + ", ".join(sorted(failed)) if failed else "ok",
            ))
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.findings:
            lines += ["", "findings:"] + [f"  {f}" for f in self.findings]
        n_bad = len({f.kernel for f in self.findings})
        lines += ["", f"{len(self.kernels) - n_bad} kernel(s) ok, {n_bad} failed"]
        return "\n".join(lines)
