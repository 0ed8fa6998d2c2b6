"""asv: ``sc.pp.highly_variable_genes`` (every flavor) and the Pearson-residual HVG."""

from __future__ import annotations

from ._common import DATASETS, FORMATS, CaseSuite

FLAVORS = ["seurat", "cell_ranger", "seurat_v3", "seurat_v3_batch", "seurat_v3_paper", "pearson"]


class HighlyVariableGenes(CaseSuite):
    """``hvg_<flavor>`` of benchmarks/_speed_cases.py; ``pearson`` is
    ``sc.experimental.pp.highly_variable_genes(flavor="pearson_residuals")``,
    ``seurat_v3_batch`` uses ``batch_key`` (4 batches on generated data)."""

    prefix = "hvg_"
    params = (DATASETS, FORMATS, FLAVORS)
    param_names = ("dataset", "format", "flavor")

    def time_hvg(self, *_) -> None:
        self.run()

    def peakmem_hvg(self, *_) -> None:
        self.run()
