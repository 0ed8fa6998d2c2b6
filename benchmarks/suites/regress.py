"""asv: ``sc.pp.regress_out`` on a categorical key (the batches) and on two continuous ones."""

from __future__ import annotations

from ._common import DATASETS, FORMATS, CaseSuite


class RegressOut(CaseSuite):
    """``regress_out`` of benchmarks/_speed_cases.py on log-normalised data."""

    prefix = "regress_out"
    params = (DATASETS, FORMATS, ["", "_continuous"])
    param_names = ("dataset", "format", "variant")
    timeout = 3600  # pristine: one statsmodels GLM per gene

    def time_regress_out(self, *_) -> None:
        self.run()

    def peakmem_regress_out(self, *_) -> None:
        self.run()
