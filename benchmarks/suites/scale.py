"""asv: ``sc.pp.scale`` (all genes: zero-centred into a dense array, or in place)."""

from __future__ import annotations

from ._common import DATASETS, FORMATS, CaseSuite


class Scale(CaseSuite):
    """``scale*`` of benchmarks/_speed_cases.py on log-normalised data."""

    prefix = "scale"
    params = (DATASETS, FORMATS, ["", "_no_center"])
    param_names = ("dataset", "format", "variant")

    def time_scale(self, *_) -> None:
        self.run()

    def peakmem_scale(self, *_) -> None:
        self.run()
