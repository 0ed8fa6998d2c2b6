"""The golden-output cases: which scanpy call, on which input, in which family.

A :class:`Case` is ``(id, family, func, kwargs, input)``. ``func`` is a dotted
path below ``scanpy`` (``pp.highly_variable_genes``); ``kwargs`` values are plain
values or *resolvers* (:class:`VarMask`, :class:`Category`) that are turned into
values against the concrete input at run time. Families group the cases a patch
migrates (the ``Migrates:`` trailer of the patch): ``hvg``, ``rank_genes_groups``,
``qc``, ``filter``, ``normalize``, ``scale``, ``regress``, ``metrics`` and
``aggregate``.

Bad-input cases are ordinary cases whose call raises: the runner records the
exception type and message, and the comparator requires the same error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import TYPE_CHECKING, Any

import numpy as np

from .inputs import Generated, InputSpec, Layout, Real

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from anndata import AnnData

FAMILIES = ("aggregate", "filter", "hvg", "metrics", "normalize", "qc", "rank_genes_groups", "regress", "scale")

# --- kwarg resolvers ----------------------------------------------------------------


@dataclass(frozen=True)
class VarMask:
    """Boolean gene mask: every gene except each ``every``-th one."""

    every: int = 3

    def resolve(self, adata: AnnData) -> np.ndarray:
        return np.arange(adata.n_vars) % self.every != 0


@dataclass(frozen=True)
class ObsMask:
    """Boolean cell mask: every cell except each ``every``-th one."""

    every: int = 3

    def resolve(self, adata: AnnData) -> np.ndarray:
        return np.arange(adata.n_obs) % self.every != 0


@dataclass(frozen=True)
class Category:
    """The ``index``-th category of ``adata.obs[column]``."""

    column: str
    index: int = 0

    def resolve(self, adata: AnnData) -> str:
        return str(adata.obs[self.column].cat.categories[self.index])


@dataclass(frozen=True)
class Categories:
    column: str
    indices: tuple[int, ...]

    def resolve(self, adata: AnnData) -> list[str]:
        cats = adata.obs[self.column].cat.categories
        return [str(cats[i]) for i in self.indices]


@dataclass(frozen=True)
class ObsValues:
    """The values of ``adata.obs[column]`` (a one-dimensional ``vals``)."""

    column: str

    def resolve(self, adata: AnnData) -> np.ndarray:
        return adata.obs[self.column].to_numpy()


type Resolver = VarMask | ObsMask | Category | Categories | ObsValues


def resolve_kwargs(kwargs: Mapping[str, Any], adata: AnnData) -> dict[str, Any]:
    return {
        k: v.resolve(adata) if isinstance(v, Resolver.__value__) else v
        for k, v in kwargs.items()
    }


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    func: str  # below `scanpy`, e.g. "pp.highly_variable_genes"
    input: InputSpec
    kwargs: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        return f"sc.{self.func}(adata[{self.input.tag}], {args})"


# --- inputs -----------------------------------------------------------------------

CSR32 = Layout("csr", "float32", "int32")
CSR64_I64 = Layout("csr", "float64", "int64")
CSC32 = Layout("csc", "float32", "int32")
CSC64_I64 = Layout("csc", "float64", "int64")
DENSE32 = Layout("dense", "float32")
DENSE64 = Layout("dense", "float64")
CSR_ARRAY64 = Layout("csr_array", "float64", "int32")
NONCANON32 = Layout("csr", "float32", "int32", noncanonical=True)
ALL_LAYOUTS = (
    CSR32,
    CSR64_I64,
    CSC32,
    CSC64_I64,
    DENSE32,
    DENSE64,
    CSR_ARRAY64,
    NONCANON32,
)

NONCANON_CSC32 = Layout("csc", "float32", "int32", noncanonical=True)
DENSE32_F = Layout("dense", "float32", fortran=True)
DUP32 = Layout("csr", "float32", "int32", duplicates=True)
DUP_CSC64 = Layout("csc", "float64", "int64", noncanonical=True, duplicates=True)

SMALL = {"n_obs": 300, "n_vars": 120, "density": 0.25, "seed": 0}
SPARSE = {"n_obs": 800, "n_vars": 300, "density": 0.04, "seed": 1}
MEDIUM = {"n_obs": 1500, "n_vars": 400, "density": 0.12, "seed": 2}


def gen(size: Mapping[str, Any], layout: Layout = CSR32, **kw: Any) -> Generated:
    return Generated(**size, layout=layout, **kw)


REAL_FILES = {
    # file: (groupby label, batch label)
    "kang_muscat_example_1556x1267_counts.h5ad": ("cluster_id", "sample_id"),
    "kang_muscat_8684x2511_counts.h5ad": ("cluster_id", "sample_id"),
    "kang_harmony_2000x9015_counts.h5ad": ("condition", "condition"),
    "scanpy_10x10k_subset_10000x1000_counts.h5ad": (None, None),
}

# --- hvg ----------------------------------------------------------------------------

HVG = "pp.highly_variable_genes"
HVG_EXP = "experimental.pp.highly_variable_genes"


def _kw_tag(kwargs: Mapping[str, Any]) -> str:
    def fmt(v: Any) -> str:  # noqa: PLR0911 (one return per resolver)
        if isinstance(v, VarMask):
            return f"mask{v.every}"
        if isinstance(v, ObsMask):
            return f"obsmask{v.every}"
        if isinstance(v, Category):
            return f"{v.column}[{v.index}]"
        if isinstance(v, Categories):
            return f"{v.column}{list(v.indices)}"
        if isinstance(v, ObsValues):
            return f"obs[{v.column}]"
        if isinstance(v, list | tuple):
            return "+".join(map(str, v))
        return str(v)

    return ",".join(f"{k}={fmt(v)}" for k, v in kwargs.items()) or "defaults"


def _case(family: str, func: str, spec: InputSpec, label: str, /, **kwargs: Any) -> Case:
    return Case(
        id=f"{family}/{label}/{spec.tag}/{_kw_tag(kwargs)}",
        family=family,
        func=func,
        input=spec,
        kwargs=kwargs,
    )


def hvg_dispersion_cases() -> Iterator[Case]:
    """flavors seurat/cell_ranger on log data."""
    inputs = [gen(SMALL, lay, values="log1p") for lay in (*ALL_LAYOUTS, NONCANON_CSC32)]
    inputs += [gen(SPARSE, CSR32, values="log1p"), gen(SPARSE, CSC32, values="log1p")]
    # sc.pp.log1p(base=2): flavor seurat un-logs with expm1(x * log(2))
    inputs += [gen(SMALL, lay, values="log1p", log1p_base=2) for lay in (CSR32, CSC64_I64)]
    inputs += [gen(SMALL, DENSE32, values="log1p", log1p_base=10)]
    variants = [{}, {"n_top_genes": 25}, {"batch_key": "batch"}]
    variants += [{"batch_key": "batch", "n_top_genes": 25}]
    for flavor, spec, kw in product(("seurat", "cell_ranger"), inputs, variants):
        yield _case("hvg", HVG, spec, flavor, flavor=flavor, **kw)
    base = gen(SMALL, CSR32, values="log1p")
    layered = gen(SMALL, CSR32, values="counts", layers=(("lognorm", "log1p"),))
    for flavor in ("seurat", "cell_ranger"):
        opts: list[tuple[InputSpec, dict[str, Any]]] = [
            (base, {"n_bins": 5}),
            # one bin, genes in bin order: pandas' bin mean is a reduceat (pairwise) sum
            (base, {"n_bins": 1, "inplace": False}),
            (base, {"n_bins": 40}),
            (base, {"min_mean": 0.05, "max_mean": 2.0, "min_disp": 0.2}),
            (base, {"max_disp": 3.0, "min_disp": -0.5}),
            (base, {"subset": True}),
            (base, {"n_top_genes": 25, "subset": True}),
            (base, {"inplace": False}),
            (base, {"inplace": False, "subset": True, "n_top_genes": 25}),
            (base, {"inplace": False, "batch_key": "batch", "n_top_genes": 25}),
            (base, {"batch_key": "batch", "subset": True}),
            (base, {"filter_unexpressed_genes": True}),
            (base, {"filter_unexpressed_genes": False, "batch_key": "batch"}),
            (base, {"n_top_genes": 1000}),  # more than there are genes
            (layered, {"layer": "lognorm"}),
            (layered, {"layer": "lognorm", "batch_key": "batch", "n_top_genes": 25}),
            # batches of 2 and of 1 cell (scanpy computes seurat; cell_ranger's bins fail)
            (base, {"batch_key": "group_small"}),
            (base, {"batch_key": "group_small", "n_top_genes": 25}),
            (base, {"batch_key": "group", "n_top_genes": 25, "n_bins": 7}),
            # bad input: errors must match
            (base, {"batch_key": "no_such_column"}),
            (layered, {"layer": "no_such_layer"}),
        ]
        for spec, kw in opts:
            yield _case("hvg", HVG, spec, flavor, flavor=flavor, **kw)
    yield _case("hvg", HVG, base, "bogus", flavor="bogus")


def hvg_seurat_v3_cases() -> Iterator[Case]:
    """flavors seurat_v3/seurat_v3_paper on counts."""
    inputs = [gen(SMALL, lay) for lay in ALL_LAYOUTS] + [gen(SPARSE, CSR32)]
    variants = [{"n_top_genes": 30}, {"n_top_genes": 30, "batch_key": "batch"}]
    for flavor, spec, kw in product(("seurat_v3", "seurat_v3_paper"), inputs, variants):
        yield _case("hvg", HVG, spec, flavor, flavor=flavor, **kw)
    base = gen(SMALL, CSR32)
    layered = gen(SMALL, CSR32, values="log1p", layers=(("counts", "counts"),))
    lognorm = gen(SMALL, CSR32, values="log1p")
    for flavor in ("seurat_v3", "seurat_v3_paper"):
        opts: list[tuple[InputSpec, dict[str, Any]]] = [
            (base, {"n_top_genes": 30, "span": 0.5}),
            (base, {"n_top_genes": 30, "span": 0.8, "batch_key": "batch"}),
            # batch labels: categories out of sorted order (one unused), plain strings
            (base, {"n_top_genes": 30, "batch_key": "batch_unsorted"}),
            (gen(SMALL, CSC32), {"n_top_genes": 30, "batch_key": "batch_labels"}),
            (base, {"n_top_genes": 30, "subset": True}),
            (base, {"n_top_genes": 30, "subset": True, "batch_key": "batch"}),
            (base, {"n_top_genes": 30, "inplace": False}),
            (base, {"n_top_genes": 30, "inplace": False, "batch_key": "batch"}),
            (base, {}),  # default n_top_genes (2000) > n_vars
            (layered, {"n_top_genes": 30, "layer": "counts"}),
            (layered, {"n_top_genes": 30, "layer": "counts", "batch_key": "batch"}),
            (lognorm, {"n_top_genes": 30}),  # non-integer data: warning
            # a batch of one cell: `aggregate` warns about its NaN variances (its path is kept)
            (base, {"n_top_genes": 30, "batch_key": "group_small"}),
            (gen(SPARSE, CSC32), {"n_top_genes": 30, "batch_key": "group_small"}),
            (lognorm, {"n_top_genes": 30, "check_values": False}),
            (base, {"n_top_genes": 30, "batch_key": "no_such_column"}),
        ]
        for spec, kw in opts:
            yield _case("hvg", HVG, spec, flavor, flavor=flavor, **kw)


def hvg_pearson_cases() -> Iterator[Case]:
    """sc.experimental.pp.highly_variable_genes (Pearson residuals) on counts."""
    # integer counts and column-major arrays: on a float64 / C-ordered copy
    odd = (NONCANON_CSC32, COUNTS_CSR_INT, COUNTS_DENSE_INT, DENSE32_F)
    inputs = [gen(SMALL, lay) for lay in (*ALL_LAYOUTS, *odd)] + [gen(SPARSE, CSR32)]
    for spec, kw in product(
        inputs, [{"n_top_genes": 30}, {"n_top_genes": 30, "batch_key": "batch"}]
    ):
        yield _case("hvg", HVG_EXP, spec, "pearson", **kw)
    base = gen(SMALL, CSR32)
    dense = gen(SMALL, DENSE64)
    layered = gen(SMALL, CSR32, values="log1p", layers=(("counts", "counts"),))
    opts: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"n_top_genes": 30, "theta": 10.0}),
        (base, {"n_top_genes": 30, "theta": 1e4}),
        (base, {"n_top_genes": 30, "clip": 3.0}),
        (base, {"n_top_genes": 30, "clip": 0.0}),
        (base, {"n_top_genes": 30, "chunksize": 17}),
        (base, {"n_top_genes": 30, "chunksize": 1}),
        (dense, {"n_top_genes": 30, "chunksize": 7, "clip": 2.5}),
        (base, {"n_top_genes": 30, "batch_key": "batch", "theta": 10.0, "clip": 5.0}),
        (base, {"n_top_genes": 30, "batch_key": "batch", "chunksize": 33}),
        (base, {"n_top_genes": 30, "subset": True}),
        (base, {"n_top_genes": 30, "inplace": False}),
        (base, {"n_top_genes": 30, "inplace": False, "batch_key": "batch"}),
        (layered, {"n_top_genes": 30, "layer": "counts"}),
        (layered, {"n_top_genes": 30}),  # non-integer data: warning
        (layered, {"n_top_genes": 30, "check_values": False}),
        (base, {"n_top_genes": 30, "theta": np.inf, "clip": np.inf}),
        (base, {"n_top_genes": 1000}),  # more than there are genes
        (base, {"n_top_genes": 30, "batch_key": "group_small"}),  # 1- and 2-cell batches
        (base, {"n_top_genes": 30, "flavor": "bogus"}),  # error
        (base, {"n_top_genes": 30, "theta": 0.0}),  # error
        (base, {"n_top_genes": 30, "clip": -1.0}),  # error
        (base, {}),
    ]
    for spec, kw in opts:
        yield _case("hvg", HVG_EXP, spec, "pearson", **kw)


def hvg_real_cases() -> Iterator[Case]:
    for file, (_, batch) in REAL_FILES.items():
        logn = Real(file, CSR32, values="log1p")
        counts = Real(file, CSR32)
        yield _case("hvg", HVG, logn, "seurat", flavor="seurat")
        yield _case("hvg", HVG, logn, "cell_ranger", flavor="cell_ranger", n_top_genes=500)
        yield _case("hvg", HVG, counts, "seurat_v3", flavor="seurat_v3", n_top_genes=500)
        yield _case("hvg", HVG_EXP, counts, "pearson", n_top_genes=500)
        if batch is not None:
            yield _case("hvg", HVG, logn, "seurat", flavor="seurat", batch_key=batch)
            yield _case(
                "hvg",
                HVG,
                counts,
                "seurat_v3_paper",
                flavor="seurat_v3_paper",
                n_top_genes=500,
                batch_key=batch,
            )
            yield _case("hvg", HVG_EXP, counts, "pearson", n_top_genes=500, batch_key=batch)
    # flavor seurat un-logs 8 MiB of stored values at a time (patch 0010): inputs of
    # several blocks (14 MiB of float32 values) in each layout, with batches and a base
    kang = "kang_muscat_8684x2511_counts.h5ad"
    for lay in (CSR64_I64, CSC32, DENSE32):
        yield _case("hvg", HVG, Real(kang, lay, values="log1p"), "seurat", flavor="seurat")
    yield _case(
        "hvg",
        HVG,
        Real(kang, CSC32, values="log1p"),
        "seurat",
        flavor="seurat",
        batch_key="sample_id",
        n_top_genes=500,
    )
    size = {"n_obs": 6000, "n_vars": 4000, "density": 0.15, "seed": 3}  # 14 MiB
    several = gen(size, CSR32, values="log1p", log1p_base=2)
    yield _case("hvg", HVG, several, "seurat", flavor="seurat", batch_key="batch")
    example = "kang_muscat_example_1556x1267_counts.h5ad"
    # generated inputs have all-zero cells (residual variances all NaN): real data here
    for lay in (CSR64_I64, CSC32, CSC64_I64, DENSE32, DENSE64, NONCANON32, NONCANON_CSC32):
        yield _case("hvg", HVG_EXP, Real(example, lay), "pearson", n_top_genes=300)
        yield _case(
            "hvg", HVG_EXP, Real(example, lay), "pearson", n_top_genes=300, batch_key="sample_id"
        )
    yield _case(
        "hvg",
        HVG_EXP,
        Real(example, CSR32),
        "pearson",
        n_top_genes=300,
        batch_key="cluster_id",
        theta=10.0,
        clip=4.0,
    )
    yield _case(
        "hvg",
        HVG,
        Real(example, CSC64_I64, values="log1p"),
        "cell_ranger",
        flavor="cell_ranger",
        n_top_genes=300,
        batch_key="sample_id",
    )
    yield _case(
        "hvg",
        HVG,
        Real(example, CSC64_I64),
        "seurat_v3",
        flavor="seurat_v3",
        n_top_genes=300,
        batch_key="sample_id",
    )


# --- rank_genes_groups ------------------------------------------------------------------

RGG = "tl.rank_genes_groups"
METHODS: tuple[dict[str, Any], ...] = (
    {"method": "wilcoxon"},
    {"method": "wilcoxon", "tie_correct": True},
    {"method": "t-test"},
    {"method": "t-test_overestim_var"},
    {"method": "logreg"},
)


def _rgg(spec: InputSpec, groupby: str = "group", **kw: Any) -> Case:
    return _case("rank_genes_groups", RGG, spec, "rgg", groupby=groupby, **kw)


# logreg is sklearn's solver (seconds per call on dense input): fewer layouts
LOGREG_LAYOUTS = (CSR32, CSC64_I64, DENSE64)


def rgg_matrix_cases() -> Iterator[Case]:
    """Every method x reference (rest / a named group) x storage layout."""
    layouts = (CSR32, CSR64_I64, CSC64_I64, DENSE32, DENSE64, CSR_ARRAY64, NONCANON32)
    inputs = [gen(MEDIUM, lay, values="log1p") for lay in layouts]
    inputs.append(gen(SPARSE, CSR32, values="log1p"))
    for spec, meth, ref in product(inputs, METHODS, ("rest", "B")):
        if meth["method"] == "logreg" and spec.layout not in LOGREG_LAYOUTS:
            continue
        yield _rgg(spec, **meth, reference=ref)


def rgg_option_cases() -> Iterator[Case]:
    base = gen(MEDIUM, CSR32, values="log1p")
    dense = gen(MEDIUM, DENSE64, values="log1p")
    with_raw = gen(MEDIUM, CSR32, values="counts", raw="log1p")
    layered = gen(MEDIUM, CSR32, values="counts", layers=(("lognorm", "log1p"),))
    for meth in METHODS:
        for spec in (base, dense) if meth["method"] != "logreg" else (base,):
            yield _rgg(spec, **meth, groups=["A", "C"])
            yield _rgg(spec, **meth, groups=["A", "C"], reference="B")
            yield _rgg(spec, **meth, mask_var=VarMask(3))
        yield _rgg(base, **meth, mask_var="expressed_mask")
        yield _rgg(base, **meth, pts=True)
        yield _rgg(base, **meth, pts=True, reference="B")
        yield _rgg(with_raw, **meth)  # use_raw defaults to True when raw is set
        yield _rgg(with_raw, **meth, use_raw=False)  # counts in X: warning
        yield _rgg(layered, **meth, layer="lognorm", use_raw=False)
        yield _rgg(base, **meth, n_genes=10)
        yield _rgg(base, **meth, n_genes=10, rankby_abs=True)
        yield _rgg(base, **meth, n_genes=1000)  # more than there are genes
        # groups of 2 cells work; 1-cell groups make scanpy raise (compared below)
        yield _rgg(base, "group_small", **meth, groups=["pair", "A", "B"])
        yield _rgg(base, "group_small", **meth, groups=["A", "pair"], reference="pair")
    for meth in METHODS[:4]:
        yield _rgg(base, **meth, corr_method="bonferroni")
        yield _rgg(base, **meth, corr_method="bonferroni", reference="B", pts=True)
        yield _rgg(with_raw, **meth, use_raw=True, groups=["B", "D"], pts=True)
    yield _rgg(base, method="logreg", groups=["A", "B"])  # binary logistic regression
    yield _rgg(base, method="wilcoxon", key_added="rgg_custom", pts=True)
    yield _rgg(base, method="t-test", copy=True)
    # bad input: the same error on both sides
    yield _rgg(base, "group_small", method="wilcoxon")  # 1-cell group selected
    yield _rgg(base, "group_small", method="t-test", groups=["single", "A"])
    yield _rgg(base, method="logreg", groups=["A"])  # single cluster
    yield _rgg(base, method="wilcoxon", reference="Z")
    yield _rgg(base, method="bogus")
    yield _rgg(base, method="t-test", corr_method="bogus")
    yield _rgg(base, method="t-test", groups="A")
    yield _rgg(base, method="t-test", use_raw=True)  # no .raw
    yield _rgg(with_raw, method="t-test", layer="lognorm", use_raw=True)
    yield _rgg(base, "no_such_column", method="t-test")


# rank_genes_groups only: layouts the other families do not use
CSC_ARRAY32_I64 = Layout("csc_array", "float32", "int64")
NONCANON_CSC64_I64 = Layout("csc", "float64", "int64", noncanonical=True)
COUNTS_CSR_INT = Layout("csr", "int64", "int32")
COUNTS_DENSE_INT = Layout("dense", "int64")


def rgg_edge_cases() -> Iterator[Case]:
    """Adversarial genes (ties, all-zero groups, negatives, NaN), odd layouts, bad input."""
    layouts = (
        CSR32,
        CSR64_I64,
        CSC32,
        CSC64_I64,
        CSC_ARRAY32_I64,
        DENSE32,
        DENSE64,
        CSR_ARRAY64,
        NONCANON32,
        NONCANON_CSC64_I64,
    )
    tests = METHODS[:4]
    for lay, meth, ref in product(layouts, tests, ("rest", "B")):
        yield _rgg(gen(SMALL, lay, values="log1p", edges=True), **meth, reference=ref, pts=True)
    edges = gen(SMALL, CSR32, values="log1p", edges=True)
    for meth in tests:
        # every group but the 1-cell one: a 1-cell remainder (vs rest)
        every = ["pair", "A", "B", "C", "D"]
        yield _rgg(edges, "group_small", **meth, groups=every, pts=True)
        yield _rgg(edges, "group_small", **meth, groups=every, reference="pair")
        yield _rgg(edges, **meth, groups=["B", "D"], reference="C", n_genes=7, pts=True)
    for lay in (NONCANON32, NONCANON_CSC64_I64):
        noncanon = gen(SMALL, lay, values="log1p", edges=True)
        yield _rgg(noncanon, method="wilcoxon", mask_var=VarMask(3), pts=True)
        yield _rgg(noncanon, method="t-test", mask_var="expressed_mask", reference="A")
        # without pts scanpy accumulates unsorted CSC columns in stored order, with pts
        # (nonzeros counted first, which sorts them) in row order
        for meth in (METHODS[0], METHODS[2]):
            yield _rgg(noncanon, **meth)
            yield _rgg(noncanon, **meth, groups=["B", "D"], reference="C")
            yield _rgg(noncanon, **meth, groups=["B", "D"], reference="C", pts=True)
    for lay, meth, ref in product((CSR32, CSC64_I64, DENSE64), tests[:3], ("rest", "B")):
        nan = gen(SMALL, lay, values="log1p", nan=True)
        yield _rgg(nan, **meth, reference=ref, pts=True)
    yield _rgg(gen(SMALL, CSR32, values="log1p", nan=True), method="logreg")  # error
    # integer counts (converted to float64 for the kernels): warns about raw counts
    for lay, meth, ref in product((COUNTS_CSR_INT, COUNTS_DENSE_INT), tests[:3], ("rest", "B")):
        yield _rgg(gen(SMALL, lay), **meth, reference=ref, pts=True)
    # bad input: the same error on both sides
    yield _rgg(edges, method="wilcoxon", groups=["A", "Z"])  # unknown group
    yield _rgg(edges, "score", method="t-test")  # groupby not categorical
    yield _rgg(edges, "group_small", method="wilcoxon", groups=["A"], reference="single")


def rgg_real_cases() -> Iterator[Case]:
    example = "kang_muscat_example_1556x1267_counts.h5ad"
    big = "kang_muscat_8684x2511_counts.h5ad"
    harmony = "kang_harmony_2000x9015_counts.h5ad"
    ex = Real(example, CSR32, values="log1p")
    for meth in METHODS:
        yield _rgg(ex, "cluster_id", **meth)
    yield _rgg(
        ex,
        "cluster_id",
        method="wilcoxon",
        reference=Category("cluster_id", 2),
        pts=True,
    )
    yield _rgg(ex, "cluster_id", method="t-test", groups=Categories("cluster_id", (0, 4)))
    yield _rgg(ex, "group_id", method="wilcoxon", tie_correct=True)
    yield _rgg(
        Real(example, CSC64_I64, values="log1p"),
        "cluster_id",
        method="t-test_overestim_var",
    )
    b = Real(big, CSR32, values="log1p")
    yield _rgg(b, "cluster_id", method="wilcoxon", tie_correct=True, pts=True)
    yield _rgg(b, "cluster_id", method="t-test")
    yield _rgg(
        b,
        "sample_id",
        method="t-test_overestim_var",
        reference=Category("sample_id", 0),
    )
    h = Real(harmony, CSR32, values="log1p")
    yield _rgg(h, "condition", method="wilcoxon", reference="ctrl")
    yield _rgg(h, "condition", method="t-test_overestim_var", pts=True)
    # other layouts of the real matrices (cluster_id labels)
    for lay in (DENSE32, NONCANON32, CSC_ARRAY32_I64):
        spec = Real(example, lay, values="log1p")
        yield _rgg(spec, "cluster_id", method="wilcoxon", tie_correct=True, pts=True)
        yield _rgg(spec, "cluster_id", method="t-test", reference=Category("cluster_id", 1))
    yield _rgg(Real(big, CSC32, values="log1p"), "cluster_id", method="wilcoxon", pts=True)
    yield _rgg(
        Real(big, DENSE64, values="log1p"),
        "cluster_id",
        method="wilcoxon",
        reference=Category("cluster_id", 3),
        tie_correct=True,
    )


# --- qc ---------------------------------------------------------------------------------

QC = "pp.calculate_qc_metrics"
#: more genes than the default percent_top's 500
QC_SIZE = {"n_obs": 500, "n_vars": 640, "density": 0.15, "seed": 4}
COUNTS_CSR_INT = Layout("csr", "int64")


def qc_cases() -> Iterator[Case]:
    """calculate_qc_metrics: every layout, every parameter, real matrices, bad input."""
    layouts = (*ALL_LAYOUTS, NONCANON_CSC32, DENSE32_F, COUNTS_CSR_INT)
    for lay in layouts:
        spec = gen(QC_SIZE, lay)
        yield _case("qc", QC, spec, "qc", qc_vars=["expressed_mask"])
        yield _case("qc", QC, spec, "qc", percent_top=[5, 1, 600], log1p=False)
    base = gen(QC_SIZE, CSR32)
    logged = gen(QC_SIZE, CSR32, values="log1p")  # real-valued: sums depend on order
    layered = gen(QC_SIZE, CSR32, values="counts", layers=(("lognorm", "log1p"),))
    raw = gen(QC_SIZE, CSR32, values="log1p", raw="counts")
    opts: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {}),
        (base, {"percent_top": None}),
        (base, {"percent_top": []}),
        (base, {"percent_top": [640]}),
        (base, {"percent_top": [50, 50, 3]}),
        (base, {"qc_vars": "expressed_mask", "percent_top": None}),
        (base, {"expr_type": "umis", "var_type": "features"}),
        (base, {"inplace": True}),
        (base, {"inplace": True, "qc_vars": ["expressed_mask"], "log1p": False}),
        (logged, {"qc_vars": ["expressed_mask"]}),
        (gen(SPARSE, CSR32), {"percent_top": [1, 10, 100]}),
        (gen(QC_SIZE, CSR64_I64, values="log1p"), {"qc_vars": ["expressed_mask"]}),
        (layered, {"layer": "lognorm", "qc_vars": ["expressed_mask"]}),
        (raw, {"use_raw": True, "percent_top": [10, 100]}),
        # bad input: errors must match
        (base, {"percent_top": [0, 10]}),
        (base, {"percent_top": [641]}),
        (base, {"qc_vars": ["no_such_column"]}),
        (layered, {"layer": "no_such_layer"}),
        (base, {"use_raw": True}),
    ]
    for spec, kw in opts:
        yield _case("qc", QC, spec, "qc", **kw)
    for file in REAL_FILES:
        for lay in (CSR32, CSC32, DENSE32):
            spec = Real(file, lay, values="counts")
            yield _case("qc", QC, spec, "qc", qc_vars=["expressed_mask"])
    big = Real("kang_muscat_8684x2511_counts.h5ad", CSR32, values="log1p")
    yield _case("qc", QC, big, "qc", qc_vars=["expressed_mask"], percent_top=[1, 20, 2000])


# --- filter -----------------------------------------------------------------------------

FILTER_CELLS = "pp.filter_cells"
FILTER_GENES = "pp.filter_genes"


def filter_cases() -> Iterator[Case]:
    """filter_cells / filter_genes: every layout, every threshold, odd storage, bad input.

    The thresholds cut inside each count's range on these inputs (SMALL: 19-44 genes
    per cell, 8-205 cells per gene), so both kept and removed cells and genes occur.
    """
    layouts = (*ALL_LAYOUTS, NONCANON_CSC32, DENSE32_F, COUNTS_CSR_INT, DUP32, DUP_CSC64)
    for lay in layouts:
        spec = gen(SMALL, lay)
        yield _case("filter", FILTER_CELLS, spec, "cells", min_genes=26)
        yield _case("filter", FILTER_GENES, spec, "genes", min_cells=26)
        yield _case("filter", FILTER_CELLS, spec, "cells", max_genes=36, inplace=False)
        yield _case("filter", FILTER_GENES, spec, "genes", max_cells=115, inplace=False)
    base = gen(SMALL, CSR32)
    signed = gen(SMALL, CSR32, values="log1p", edges=True, nan=True)  # <0, NaN, 0 genes
    cells: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"min_genes": 0}),
        (base, {"min_genes": 1000}),  # every cell removed
        (base, {"min_counts": 41}),
        (base, {"max_counts": 69, "inplace": False}),
        (base, {"min_genes": 30, "copy": True}),
        (gen(SPARSE, CSR64_I64), {"min_genes": 2}),
        (gen(SPARSE, CSC64_I64), {"max_genes": 15}),
        (signed, {"min_genes": 26}),
        (signed, {"max_genes": 30, "inplace": False}),
        # bad input: errors must match
        (base, {}),
        (base, {"min_genes": 26, "min_counts": 10}),
    ]
    genes: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"min_cells": 0}),
        (base, {"min_cells": 1000}),  # every gene removed
        (base, {"min_counts": 28}),
        (base, {"max_counts": 166, "inplace": False}),
        (base, {"min_cells": 3, "copy": True}),
        (gen(SPARSE, CSR64_I64), {"min_cells": 20}),
        (gen(SPARSE, CSC64_I64), {"max_cells": 40}),
        (signed, {"min_cells": 26}),
        (signed, {"max_cells": 60, "inplace": False}),
        # bad input: errors must match
        (base, {}),
        (base, {"min_cells": 26, "max_cells": 100}),
    ]
    for spec, kw in cells:
        yield _case("filter", FILTER_CELLS, spec, "cells", **kw)
    for spec, kw in genes:
        yield _case("filter", FILTER_GENES, spec, "genes", **kw)
    for file in REAL_FILES:
        for lay in (CSR32, CSC32):
            spec = Real(file, lay, values="counts")
            yield _case("filter", FILTER_CELLS, spec, "cells", min_genes=200)
            yield _case("filter", FILTER_GENES, spec, "genes", min_cells=3)


# --- normalize --------------------------------------------------------------------------

NORM = "pp.normalize_total"


def normalize_cases() -> Iterator[Case]:
    """normalize_total: every layout, every parameter, real matrices, bad input."""
    layouts = (*ALL_LAYOUTS, NONCANON_CSC32, DENSE32_F, COUNTS_CSR_INT)
    for lay in layouts:
        spec = gen(QC_SIZE, lay)
        yield _case("normalize", NORM, spec, "normalize")
        yield _case(
            "normalize",
            NORM,
            spec,
            "normalize",
            target_sum=1e4,
            exclude_highly_expressed=True,
            max_fraction=0.02,
            key_added="norm",
        )
    base = gen(QC_SIZE, CSR32)
    logged = gen(QC_SIZE, CSR32, values="log1p")  # real-valued: sums depend on order
    layered = gen(QC_SIZE, CSR32, values="log1p", layers=(("counts", "counts"),))
    nan = gen(SMALL, CSR32, edges=True, nan=True)  # NaN and constant genes
    opts: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"target_sum": 1e4}),
        (base, {"target_sum": 1e6, "key_added": "n_counts"}),
        (base, {"target_sum": 1}),
        (base, {"target_sum": 3}),
        (base, {"target_sum": 0.1}),
        (base, {"exclude_highly_expressed": True}),
        (base, {"exclude_highly_expressed": True, "max_fraction": 0.5}),
        (base, {"exclude_highly_expressed": True, "max_fraction": 1}),
        (base, {"exclude_highly_expressed": True, "max_fraction": 0.0}),
        (base, {"inplace": False}),
        (base, {"inplace": False, "exclude_highly_expressed": True, "target_sum": 1e4}),
        (base, {"copy": True, "key_added": "nf"}),
        (logged, {}),
        (logged, {"target_sum": 1e4, "exclude_highly_expressed": True}),
        (gen(SPARSE, CSR32), {}),
        (gen(SPARSE, CSR64_I64), {"target_sum": 1e4}),
        (layered, {"layer": "counts", "target_sum": 1e4}),
        (layered, {"layer": "counts", "inplace": False}),
        (nan, {}),
        (nan, {"exclude_highly_expressed": True, "target_sum": 1e4}),
        # bad input: errors must match
        (base, {"max_fraction": 1.5}),
        (base, {"max_fraction": -0.1, "exclude_highly_expressed": True}),
        (base, {"copy": True, "inplace": False}),
        (layered, {"layer": "no_such_layer"}),
    ]
    for spec, kw in opts:
        yield _case("normalize", NORM, spec, "normalize", **kw)
    for file in REAL_FILES:
        for lay in (CSR32, CSC32, DENSE32):
            spec = Real(file, lay, values="counts")
            yield _case("normalize", NORM, spec, "normalize", target_sum=1e4)
        spec = Real(file, CSR32, values="counts")
        yield _case("normalize", NORM, spec, "normalize")
        yield _case("normalize", NORM, spec, "normalize", exclude_highly_expressed=True)


# --- scale ------------------------------------------------------------------------------

SCALE = "pp.scale"


def scale_cases() -> Iterator[Case]:
    """scale: every layout, every parameter, real matrices, bad input."""
    layouts = (*ALL_LAYOUTS, NONCANON_CSC32, DENSE32_F, COUNTS_CSR_INT)
    for lay in layouts:
        spec = gen(SMALL, lay, values="counts" if lay is COUNTS_CSR_INT else "log1p")
        yield _case("scale", SCALE, spec, "scale")
        yield _case("scale", SCALE, spec, "scale", zero_center=False, max_value=2.0)
    base = gen(SMALL, CSR32, values="log1p")
    layered = gen(SMALL, CSR32, values="counts", layers=(("lognorm", "log1p"),))
    nan = gen(SMALL, CSR32, values="log1p", edges=True, nan=True)  # NaN, constant genes
    opts: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"max_value": 10}),
        (base, {"max_value": 0.5}),
        (base, {"max_value": 0}),
        (base, {"zero_center": False}),
        (base, {"zero_center": False, "max_value": 1}),
        (base, {"copy": True}),
        (base, {"copy": True, "zero_center": False, "max_value": 3.0}),
        (base, {"mask_obs": ObsMask(3)}),
        (base, {"mask_obs": ObsMask(3), "zero_center": False}),
        (gen(SPARSE, CSR64_I64, values="log1p"), {"max_value": 3.0}),
        (gen(SPARSE, CSR32, values="log1p"), {"zero_center": False}),
        (layered, {"layer": "lognorm", "max_value": 5.0}),
        (layered, {"layer": "lognorm", "zero_center": False}),
        (nan, {}),
        (nan, {"zero_center": False, "max_value": 2.0}),
        (nan, {"max_value": 2.0}),
        # bad input: errors must match
        (layered, {"layer": "no_such_layer"}),
        (base, {"mask_obs": "no_such_column"}),
    ]
    for spec, kw in opts:
        yield _case("scale", SCALE, spec, "scale", **kw)
    for file in REAL_FILES:
        spec = Real(file, CSR32, values="log1p")
        yield _case("scale", SCALE, spec, "scale", zero_center=False, max_value=10)
    for file in list(REAL_FILES)[:2]:  # the two smaller: the dense results are stored
        yield _case("scale", SCALE, Real(file, CSR32, values="log1p"), "scale", max_value=10)


# --- regress_out -------------------------------------------------------------------------

REGRESS = "pp.regress_out"


def regress_cases() -> Iterator[Case]:
    """regress_out: categorical keys on every layout, the parameters, bad input."""
    layouts = (*ALL_LAYOUTS, NONCANON_CSC32, DENSE32_F, COUNTS_CSR_INT)
    for lay in layouts:
        values = "counts" if lay is COUNTS_CSR_INT else "log1p"
        yield _case("regress", REGRESS, gen(SMALL, lay, values=values), "regress", keys="batch")
    base = gen(SMALL, CSR32, values="log1p")
    layered = gen(SMALL, CSR32, values="counts", layers=(("lognorm", "log1p"),))
    edges = gen(SMALL, CSR32, values="log1p", edges=True)  # constant genes, obs["score"]
    nan = gen(SMALL, CSR32, values="log1p", edges=True, nan=True)
    opts: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"keys": "group"}),
        (gen(SPARSE, CSR32, values="log1p"), {"keys": ["group"]}),
        (base, {"keys": "group_small"}),  # a category of 1 cell, one of 2
        (base, {"keys": "batch_unsorted"}),  # an unused category
        (base, {"keys": "batch_labels"}),  # strings: sanitize_anndata makes them categorical
        (base, {"keys": "batch", "n_jobs": 1}),
        (base, {"keys": "batch", "n_jobs": 2}),
        (base, {"keys": "batch", "copy": True}),
        (gen(SPARSE, CSR64_I64, values="log1p"), {"keys": "group"}),
        (layered, {"keys": "batch", "layer": "lognorm"}),
        (edges, {"keys": "group"}),
        (edges, {"keys": "score"}),  # a continuous key (more: _regress_continuous_cases)
        (nan, {"keys": "group"}),  # NaN genes: scanpy's GLMs on both sides
        # bad input: errors must match
        (base, {"keys": ["batch", "group"]}),
        (base, {"keys": "no_such_column"}),
        (layered, {"keys": "batch", "layer": "no_such_layer"}),
    ]
    for spec, kw in opts:
        yield _case("regress", REGRESS, spec, "regress", **kw)
    small = "kang_muscat_example_1556x1267_counts.h5ad"  # one GLM per gene in pristine
    for key in REAL_FILES[small]:
        yield _case("regress", REGRESS, Real(small, CSR32, values="log1p"), "regress", keys=key)
    yield from _regress_continuous_cases()


def _regress_continuous_cases() -> Iterator[Case]:
    """regress_out on continuous keys (``numpy_regress_out``): layouts, keys, real data."""
    layouts = (*ALL_LAYOUTS, NONCANON_CSC32, DENSE32_F, COUNTS_CSR_INT, DUP32)
    for lay in layouts:
        values = "counts" if lay is COUNTS_CSR_INT else "log1p"
        spec = gen(SMALL, lay, values=values, edges=True)  # obs: score, score2
        yield _case("regress", REGRESS, spec, "continuous", keys=["score", "score2"])
    base = gen(SMALL, CSR32, values="log1p", edges=True)
    layered = gen(SMALL, CSR32, values="counts", edges=True, layers=(("lognorm", "log1p"),))
    opts: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"keys": "score2"}),
        (base, {"keys": ["score", "score2"], "copy": True}),
        (base, {"keys": ["score", "score2"], "n_jobs": 1}),
        (gen(SPARSE, CSR64_I64, values="log1p", edges=True), {"keys": ["score", "score2"]}),
        (gen(SMALL, DENSE64, values="log1p", edges=True, nan=True), {"keys": "score"}),
        (gen(SMALL, CSR32, values="log1p", edges=True, nan=True), {"keys": "score"}),
        (layered, {"keys": ["score", "score2"], "layer": "lognorm"}),
        # bad input: errors must match
        (base, {"keys": ["score", "no_such_column"]}),
    ]
    for spec, kw in opts:
        yield _case("regress", REGRESS, spec, "continuous", **kw)
    real = [Real(file, CSR32, values="log1p", covariates=True) for file in REAL_FILES]
    real.append(Real("kang_muscat_8684x2511_counts.h5ad", CSR64_I64, values="log1p", covariates=True))
    for spec in real:
        yield _case("regress", REGRESS, spec, "continuous", keys=["total_counts", "n_genes"])


# --- metrics (Moran's I, Geary's C) ---------------------------------------------------

MORANS_I = "metrics.morans_i"
GEARYS_C = "metrics.gearys_c"
METRICS_SIZE = {"n_obs": 400, "n_vars": 90, "density": 0.2, "seed": 5}


def metrics_cases() -> Iterator[Case]:
    """morans_i / gearys_c: every layout of ``vals``, every source of it, bad input."""
    layouts = (*ALL_LAYOUTS, NONCANON_CSC32, DENSE32_F, DUP32, DUP_CSC64, COUNTS_CSR_INT)
    base = gen(
        METRICS_SIZE,
        CSR32,
        values="log1p",
        graph=True,
        layers=(("counts", "counts"),),
        raw="counts",
    )
    opts: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"layer": "counts"}),
        (base, {"use_raw": True}),
        (base, {"obsm": "X_pca"}),  # a constant component: NaN and a warning
        (base, {"obsp": "distances"}),
        (base, {"use_graph": "distances"}),
        (base, {"use_graph": "weights64"}),  # float64 weights (TOLERANCES.md)
        (gen(MEDIUM, DENSE32, values="log1p", graph=True), {"use_graph": "weights64"}),
        (base, {"neighbors_key": "neighbors"}),
        (base, {"vals": ObsValues("pct")}),  # one-dimensional: scanpy's own code
        (gen(SPARSE, CSR32, values="log1p", graph=True), {}),  # constant genes
        (gen(SPARSE, DENSE64, values="log1p", graph=True), {}),
        # bad input: errors must match
        (base, {"use_graph": "distances", "neighbors_key": "neighbors"}),
        (gen(METRICS_SIZE, CSR32, values="log1p"), {}),  # no neighbors
        (base, {"layer": "no_such_layer"}),
    ]
    for func in (MORANS_I, GEARYS_C):
        label = func.rpartition(".")[2]
        for lay in layouts:
            values = "counts" if lay is COUNTS_CSR_INT else "log1p"
            yield _case("metrics", func, gen(METRICS_SIZE, lay, values=values, graph=True), label)
        for spec, kw in opts:
            yield _case("metrics", func, spec, label, **kw)
        for lay in (CSR32, DENSE32):
            real = Real(
                "kang_muscat_example_1556x1267_counts.h5ad", lay, values="log1p", graph=True
            )
            yield _case("metrics", func, real, label)


# --- aggregate (get.aggregate) --------------------------------------------------------

AGGREGATE = "get.aggregate"
AGG_FUNCS = ("sum", "mean", "var", "count_nonzero", "median")


def aggregate_cases() -> Iterator[Case]:
    """get.aggregate: every func alone and together, every layout, every option, bad input.

    ``edges`` + ``nan`` inputs carry negatives, ties, all-zero groups and NaN;
    ``group_small`` has a 1-cell and a 2-cell group (``dof``'s NaN and warning).
    """
    layouts = (*ALL_LAYOUTS, NONCANON_CSC32, DENSE32_F, DUP32, DUP_CSC64, COUNTS_CSR_INT)
    every = list(AGG_FUNCS)
    for lay in layouts:
        values = "counts" if lay is COUNTS_CSR_INT else "log1p"
        spec = gen(SMALL, lay, values=values, edges=lay.dtype != "int64", nan=lay.dtype != "int64")
        for func in (*AGG_FUNCS, every):
            label = func if isinstance(func, str) else "all"
            yield _case("aggregate", AGGREGATE, spec, label, by="group", func=func)
    base = gen(SMALL, CSR32, values="log1p", edges=True, nan=True, layers=(("counts", "counts"),))
    dense = gen(SMALL, DENSE32, values="log1p", edges=True, nan=True)
    graph = gen(METRICS_SIZE, CSR32, values="log1p", graph=True)
    opts: list[tuple[InputSpec, dict[str, Any]]] = [
        (base, {"by": "group", "func": ["mean", "count_nonzero"]}),  # one pass
        (base, {"by": "group", "func": ["mean", "var"]}),
        (base, {"by": ["group", "batch"], "func": every}),
        (base, {"by": "batch_labels", "func": ["sum", "median"]}),  # strings
        (base, {"by": "batch_unsorted", "func": every}),  # unused category
        (base, {"by": "group", "func": every, "mask": ObsMask(3)}),
        (dense, {"by": "group", "func": every, "mask": ObsMask(3)}),
        (base, {"by": "group_small", "func": ["var", "median"]}),
        (base, {"by": "group_small", "func": "var", "dof": 0}),
        (base, {"by": "group_small", "func": "var", "dof": 2}),
        (base, {"by": "group", "func": every, "layer": "counts"}),
        (base, {"by": "expressed_mask", "func": every, "axis": "var"}),  # X.T: CSC
        (dense, {"by": "expressed_mask", "func": every, "axis": 1, "mask": VarMask(3)}),
        (base, {"by": "expressed_mask", "func": every, "axis": "var", "layer": "counts"}),
        (graph, {"by": "group", "func": every, "obsm": "X_pca"}),
        # bad input: errors must match
        (base, {"by": "group", "func": "nope"}),
        (base, {"by": "group", "func": "sum", "layer": "counts", "obsm": "X_pca"}),
        (base, {"by": "no_such_column", "func": "sum"}),
        (base, {"by": "group", "func": "sum", "obsm": "X_pca", "axis": "var"}),
    ]
    for spec, kw in opts:
        yield _case("aggregate", AGGREGATE, spec, "options", **kw)
    for lay in (CSR32, DENSE32):
        real = Real("kang_muscat_example_1556x1267_counts.h5ad", lay, values="log1p")
        yield _case("aggregate", AGGREGATE, real, "real", by="cluster_id", func=every)


# --- registry -------------------------------------------------------------------------


def all_cases() -> list[Case]:
    cases = [
        *hvg_dispersion_cases(),
        *hvg_seurat_v3_cases(),
        *hvg_pearson_cases(),
        *hvg_real_cases(),
        *rgg_matrix_cases(),
        *rgg_option_cases(),
        *rgg_edge_cases(),
        *rgg_real_cases(),
        *qc_cases(),
        *filter_cases(),
        *normalize_cases(),
        *scale_cases(),
        *regress_cases(),
        *metrics_cases(),
        *aggregate_cases(),
    ]
    seen: set[str] = set()
    for c in cases:
        if c.id in seen:
            msg = f"duplicate case id {c.id}"
            raise ValueError(msg)
        if c.family not in FAMILIES:
            msg = f"case {c.id} has unknown family {c.family}"
            raise ValueError(msg)
        seen.add(c.id)
    return cases


def select(families: list[str] | None = None, pattern: str | None = None) -> list[Case]:
    import fnmatch

    cases = all_cases()
    if families:
        unknown = set(families) - set(FAMILIES)
        if unknown:
            msg = f"unknown families {sorted(unknown)}; known: {FAMILIES}"
            raise ValueError(msg)
        cases = [c for c in cases if c.family in families]
    if pattern:
        cases = [c for c in cases if fnmatch.fnmatch(c.id, pattern)]
    return cases
