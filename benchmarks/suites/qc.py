"""asv: ``sc.pp.calculate_qc_metrics`` and ``filter_cells``/``filter_genes`` on counts."""

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


class Filter(CaseSuite):
    """``filter_cells(min_genes=200)``, ``filter_genes(min_cells=3)`` (``inplace=False``)."""

    prefix = "filter_"
    params = (DATASETS, FORMATS, ["cells", "genes"])
    param_names = ("dataset", "format", "variant")

    def time_filter(self, *_) -> None:
        self.run()

    def peakmem_filter(self, *_) -> None:
        self.run()
