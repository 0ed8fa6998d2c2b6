"""asv: ``sc.pp.filter_cells(min_genes=200)`` and ``sc.pp.filter_genes(min_cells=3)``."""

from __future__ import annotations

from ._common import DATASETS, FORMATS, CaseSuite


class Filter(CaseSuite):
    """``filter_cells`` / ``filter_genes`` of benchmarks/_speed_cases.py on raw counts."""

    prefix = "filter_"
    params = (DATASETS, FORMATS, ["cells", "genes"])
    param_names = ("dataset", "format", "variant")

    def time_filter(self, *_) -> None:
        self.run()

    def peakmem_filter(self, *_) -> None:
        self.run()
