"""asv: ``sc.pp.normalize_total`` (in place; ``target_sum=1e4`` and the median)."""

from __future__ import annotations

from ._common import DATASETS, FORMATS, CaseSuite


class NormalizeTotal(CaseSuite):
    """``normalize_total*`` of benchmarks/_speed_cases.py on raw counts."""

    prefix = "normalize_total"
    params = (DATASETS, FORMATS, ["", "_median"])
    param_names = ("dataset", "format", "variant")

    def time_normalize_total(self, *_) -> None:
        self.run()

    def peakmem_normalize_total(self, *_) -> None:
        self.run()
