"""asv: ``sc.pp.calculate_qc_metrics`` (``qc_vars=['mt']``, default ``percent_top``)."""

from __future__ import annotations

from ._common import DATASETS, FORMATS, CaseSuite


class CalculateQCMetrics(CaseSuite):
    """``qc_metrics`` of benchmarks/_speed_cases.py on raw counts."""

    prefix = "qc_"
    params = (DATASETS, FORMATS, ["metrics"])
    param_names = ("dataset", "format", "variant")

    def time_calculate_qc_metrics(self, *_) -> None:
        self.run()

    def peakmem_calculate_qc_metrics(self, *_) -> None:
        self.run()

