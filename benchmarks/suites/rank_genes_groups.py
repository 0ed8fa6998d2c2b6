"""asv: ``sc.tl.rank_genes_groups`` for every migrated method."""

from __future__ import annotations

from ._common import DATASETS, FORMATS, CaseSuite

#: wilcoxon vs rest / vs one reference, tie_correct False/True; both t-tests vs rest
METHODS = [
    "wilcoxon", "wilcoxon_tie", "wilcoxon_ref", "wilcoxon_ref_tie",
    "t-test", "t-test_overestim_var",
]


class RankGenesGroups(CaseSuite):
    """``rgg_<method>`` of benchmarks/_speed_cases.py on log-normalised data, groupby
    ``group`` (8 groups on generated data; the cell types of the real data)."""

    prefix = "rgg_"
    params = (DATASETS, FORMATS, METHODS)
    param_names = ("dataset", "format", "method")

    def time_rank_genes_groups(self, *_) -> None:
        self.run()

    def peakmem_rank_genes_groups(self, *_) -> None:
        self.run()
