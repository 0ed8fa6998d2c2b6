"""Flatten everything a scanpy call produced into comparable, picklable fields.

A *field* maps a path such as ``var/highly_variable``,
``uns/rank_genes_groups/scores/A`` or ``return/means@dtype`` to a numpy array or
a plain Python value (``str``, ``int``, ``float``, ``bool``, ``None``, ``tuple``).
Paths ending in ``@dtype``/``@type``/``@keys``/``@categories`` carry metadata that
is always compared exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

type Fields = dict[str, Any]


def _strings(values: Any) -> np.ndarray:
    return np.array([None if _isna(v) else str(v) for v in values], dtype=object)


def _isna(v: Any) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def array_value(a: np.ndarray) -> np.ndarray:
    """Numeric/bool arrays as they are; everything else as strings (None = NA)."""
    a = np.asarray(a)
    if a.dtype.kind in "biufc":
        return a.copy()
    return _strings(a.ravel()).reshape(a.shape)


def series_value(s: pd.Series) -> np.ndarray:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return _strings(s.astype(object))
    if isinstance(s.dtype, np.dtype) and s.dtype.kind in "biufc":
        return s.to_numpy(copy=True)
    # nullable extension dtypes, strings, objects
    return _strings(s.to_numpy(dtype=object))


def flatten_frame(prefix: str, df: pd.DataFrame, out: Fields) -> None:
    out[f"{prefix}/index"] = _strings(df.index)
    names = ["/".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in df.columns]
    out[f"{prefix}@columns"] = tuple(names)
    for name, (_, s) in zip(names, df.items(), strict=True):
        out[f"{prefix}/{name}@dtype"] = str(s.dtype)
        if isinstance(s.dtype, pd.CategoricalDtype):
            out[f"{prefix}/{name}@categories"] = tuple(map(str, s.cat.categories))
        out[f"{prefix}/{name}"] = series_value(s)


def matrix_type(m: Any) -> str:
    kind = type(m).__name__
    dtype = getattr(m, "dtype", None)
    if sparse.issparse(m):
        return f"{kind}[{dtype}, indices={m.indices.dtype}, indptr={m.indptr.dtype}]"
    return f"{kind}[{dtype}]"


def flatten_matrix(prefix: str, m: Any, out: Fields) -> None:
    out[f"{prefix}@type"] = matrix_type(m)
    out[f"{prefix}@shape"] = tuple(m.shape)
    out[prefix] = np.asarray(m.toarray() if sparse.issparse(m) else m).copy()


def flatten_value(prefix: str, v: Any, out: Fields) -> None:  # noqa: PLR0911
    if isinstance(v, pd.DataFrame):
        out[f"{prefix}@type"] = "DataFrame"
        flatten_frame(prefix, v, out)
        return
    if isinstance(v, pd.Series):
        out[f"{prefix}@type"] = "Series"
        flatten_frame(prefix, v.to_frame(), out)
        return
    if isinstance(v, Mapping):
        keys = [str(k) for k in v]
        out[f"{prefix}@keys"] = tuple(keys)
        for k, item in v.items():
            flatten_value(f"{prefix}/{k}", item, out)
        return
    if isinstance(v, np.ndarray) and v.dtype.names:  # structured / recarray
        out[f"{prefix}@dtype"] = str(v.dtype)
        for name in v.dtype.names:
            out[f"{prefix}/{name}"] = array_value(v[name])
        return
    if isinstance(v, np.ndarray):
        out[f"{prefix}@dtype"] = str(v.dtype)
        out[prefix] = array_value(v)
        return
    if sparse.issparse(v):
        flatten_matrix(prefix, v, out)
        return
    if isinstance(v, pd.Index):
        out[f"{prefix}@type"] = "Index"
        out[prefix] = _strings(v)
        return
    if isinstance(v, np.generic):
        out[f"{prefix}@type"] = f"numpy.{type(v).__name__}"
        out[prefix] = v.item()
        return
    if v is None or isinstance(v, str | int | float | bool):
        out[f"{prefix}@type"] = type(v).__name__
        out[prefix] = v
        return
    if isinstance(v, list | tuple):
        out[f"{prefix}@type"] = type(v).__name__
        out[f"{prefix}@len"] = len(v)
        for i, item in enumerate(v):
            flatten_value(f"{prefix}/{i}", item, out)
        return
    out[f"{prefix}@type"] = type(v).__qualname__
    out[prefix] = repr(v)


def flatten_anndata(prefix: str, adata: Any, out: Fields) -> None:
    out[f"{prefix}shape"] = tuple(adata.shape)
    flatten_frame(f"{prefix}obs", adata.obs, out)
    flatten_frame(f"{prefix}var", adata.var, out)
    flatten_value(f"{prefix}uns", dict(adata.uns), out)
    out[f"{prefix}layers@keys"] = tuple(k for k in adata.layers if k is not None)
    out[f"{prefix}obsm@keys"] = tuple(adata.obsm.keys())
    out[f"{prefix}varm@keys"] = tuple(adata.varm.keys())
    out[f"{prefix}raw@present"] = adata.raw is not None


# --- mutation snapshots -------------------------------------------------------------


def snapshot(m: Any) -> tuple[Any, ...]:
    if sparse.issparse(m):
        return (type(m), m.shape, m.data.copy(), m.indices.copy(), m.indptr.copy())
    return (type(m), np.shape(m), np.array(m, copy=True))


def _arrays_identical(a: np.ndarray, b: np.ndarray) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind in "fc":
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def same_values(m: Any, snap: tuple[Any, ...]) -> bool:
    """Whether ``m`` holds the values of :func:`snapshot`, whatever its storage.

    For a mutated sparse matrix this tells a rewrite of the storage only (stored
    zeros dropped, indices sorted: the dense values are unchanged) from a change of
    values. Type and shape must be the same.
    """
    now = snapshot(m)
    if now[0] is not snap[0] or now[1] != snap[1]:
        return False
    if sparse.issparse(m):
        cls, shape = snap[0], snap[1]
        before = cls((snap[2].copy(), snap[3].copy(), snap[4].copy()), shape=shape).toarray()
        return _arrays_identical(np.asarray(m.toarray()), np.asarray(before))
    return _arrays_identical(now[2], snap[2])


def unchanged(m: Any, snap: tuple[Any, ...]) -> bool:
    """Whether ``m`` still holds exactly the data captured by :func:`snapshot`."""
    now = snapshot(m)
    if now[0] is not snap[0] or now[1] != snap[1]:
        return False
    return all(_arrays_identical(a, b) for a, b in zip(now[2:], snap[2:], strict=True))
