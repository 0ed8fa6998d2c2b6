"""Zero-copy, numba-native views over scipy CSR/CSC matrices and arrays.

Python side
-----------
``csr_view(X)``, ``csc_view(X)``, ``vstack_view([X1, X2, ...])`` build a
:class:`CSRView`; ``v.rows(sel)`` and ``v.cols(sel)`` restrict it (and
compose). None of them copies ``data`` or ``indices``; ``csc_view`` returns the
same type as a CSR view of the transpose (its rows are the matrix columns).

Numba side
----------
Views are ordinary arguments of ``@njit`` functions (``parallel=True`` and
``cache=True`` included). Every view kind has the same interface:

``v.n_rows``, ``v.n_cols``
    Shape of the view (``n_cols`` counts kept columns).
``v.row(i)``
    ``(data, indices)``: zero-copy read-only slices of row ``i``'s stored
    entries; ``indices`` are *source* column indices.
``v.row_nnz(i)``
    Number of stored entries of row ``i`` (before column masking).
``v.col(j)``
    View column of source column ``j``, or -1 if it is dropped; the identity
    (no load, no branch) on views without a column subset.

Example
-------
>>> @numba.njit(parallel=True, cache=True)
... def row_sums(v):
...     out = np.zeros(v.n_rows)
...     for i in numba.prange(v.n_rows):
...         data, idx = v.row(i)
...         acc = 0.0
...         for k in range(data.size):
...             if v.col(idx[k]) >= 0:
...                 acc += data[k]
...         out[i] = acc
...     return out
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

import numpy as np
from numba import njit, prange
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import (
    NativeValue,
    intrinsic,
    make_attribute_wrapper,
    models,
    overload_attribute,
    overload_method,
    register_model,
    typeof_impl,
    unbox,
)
from numba.np.arrayobj import make_array, populate_array
from numba.np.numpy_support import from_dtype
from scipy import sparse

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike, NDArray

__all__ = [
    "CSRView",
    "CSRViewType",
    "check_canonical",
    "csc_view",
    "csr_view",
    "vstack_view",
]


# ============================================================================
# Numba type: data model, unboxing and the jitted interface
# ============================================================================

# Numba type of a sparse row view and its jitted interface.
#
# A view is a read-only, zero-copy description of a set of CSR-like rows:
#
# * ``_data``/``_indices``: the (1D, C-contiguous) arrays holding the nonzeros;
# * ``_starts``/``_ends``: per-row offsets into them (``indptr[:-1]``/``indptr[1:]``
#   slices for full views and row ranges, gathered copies for row subsets);
# * ``_ishift`` (stacked views only): per-row offset added to ``_starts``/``_ends``
#   to address ``_indices`` (data and indices of a block live at different
#   distances from their respective base pointers);
# * ``_colmap`` (column-subset views only): source column -> view column or -1.
#
# Whether a view has a column map or is stacked are compile-time parameters of
# the type, so kernels specialise and ``v.col(j)`` is the identity on views
# without a column map.


class CSRViewType(types.Type):
    """Numba type of :class:`~.CSRView`.

    Parameters
    ----------
    dtype
        Numba dtype of the nonzero values.
    index_dtype
        Numba integer dtype of the column indices.
    offset_dtype
        Numba integer dtype of the per-row start/end offsets.
    has_colmap
        Whether the view keeps only a subset of the columns.
    stacked
        Whether the view is a vertical stack of several blocks.
    """

    def __init__(
        self,
        dtype: types.Number,
        index_dtype: types.Integer,
        offset_dtype: types.Integer,
        *,
        has_colmap: bool,
        stacked: bool,
    ) -> None:
        self.dtype = dtype
        self.index_dtype = index_dtype
        self.offset_dtype = offset_dtype
        self.has_colmap = bool(has_colmap)
        self.stacked = bool(stacked)
        name = (
            f"CSRView({dtype}, indices={index_dtype}, offsets={offset_dtype}, "
            f"colmap={self.has_colmap}, stacked={self.stacked})"
        )
        super().__init__(name=name)

    @property
    def key(self) -> tuple:
        return (
            self.dtype,
            self.index_dtype,
            self.offset_dtype,
            self.has_colmap,
            self.stacked,
        )

    def fields(self) -> list[tuple[str, types.Type]]:
        """Struct members, in order: ``(name, numba type)``."""

        def arr(dt: types.Type) -> types.Array:
            return types.Array(dt, 1, "C", readonly=True)

        members = [
            ("data", arr(self.dtype)),
            ("indices", arr(self.index_dtype)),
            ("starts", arr(self.offset_dtype)),
            ("ends", arr(self.offset_dtype)),
        ]
        if self.stacked:
            members.append(("ishift", arr(types.int64)))
        if self.has_colmap:
            members.append(("colmap", arr(types.intp)))
        members += [("n_rows", types.intp), ("n_cols", types.intp)]
        return members


@register_model(CSRViewType)
class _CSRViewModel(models.StructModel):
    def __init__(self, dmm, fe_type: CSRViewType) -> None:
        super().__init__(dmm, fe_type, fe_type.fields())


# Raw members, for package internals (e.g. ``v._data``); kernels use the methods.
for _name in ("data", "indices", "starts", "ends", "ishift", "colmap"):
    make_attribute_wrapper(CSRViewType, _name, "_" + _name)
make_attribute_wrapper(CSRViewType, "n_rows", "n_rows")
make_attribute_wrapper(CSRViewType, "n_cols", "n_cols")


@unbox(CSRViewType)
def _unbox_view(typ: CSRViewType, obj, c) -> NativeValue:
    """Build the native struct from the Python view's ``_<member>`` attributes.

    Arrays are unboxed as borrowed NRT views of the Python arrays (no copy);
    the call wrapper releases them after the call.
    """
    view = cgutils.create_struct_proxy(typ)(c.context, c.builder)
    is_error_ptr = cgutils.alloca_once_value(c.builder, cgutils.false_bit)
    for name, fty in typ.fields():
        attr = c.pyapi.object_getattr_string(obj, "_" + name)
        native = c.unbox(fty, attr)
        c.pyapi.decref(attr)
        with c.builder.if_then(native.is_error, likely=False):
            c.builder.store(cgutils.true_bit, is_error_ptr)
        setattr(view, name, native.value)
    return NativeValue(view._getvalue(), is_error=c.builder.load(is_error_ptr))


@intrinsic
def _span(typingctx, arr, start, stop):
    """Slice ``arr[start:stop]`` of a 1D C array without wraparound or clamping.

    The caller guarantees ``0 <= start <= stop <= arr.size``: row offsets are
    validated when the view is built, so the per-row slice needs no checks.  It
    shares ``arr``'s memory and reference.
    """
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and arr.layout == "C"):
        return None
    if not (isinstance(start, types.Integer) and isinstance(stop, types.Integer)):
        return None
    sig = arr(arr, start, stop)

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        src = make_array(aryty)(context, builder, args[0])
        lo = context.cast(builder, args[1], sig.args[1], types.intp)
        hi = context.cast(builder, args[2], sig.args[2], types.intp)
        out = make_array(aryty)(context, builder)
        populate_array(
            out,
            data=builder.gep(src.data, [lo], inbounds=True),
            shape=[builder.sub(hi, lo)],
            strides=[src.itemsize],
            itemsize=src.itemsize,
            meminfo=src.meminfo,
            parent=src.parent,
        )
        return impl_ret_borrowed(context, builder, aryty, out._getvalue())

    return sig, codegen


# The methods are inlined at the numba IR level (``inline="always"``): the row
# slices then live in the kernel's own function, where LLVM vectorizes the
# inner loops (measured: without it a fastmath row reduction stays scalar).
@overload_method(CSRViewType, "row", inline="always")
def _ol_row(v, i):
    """``v.row(i) -> (data, indices)``: zero-copy slices of row ``i``.

    ``indices`` are *source* column indices (map them with ``v.col``).
    """
    if not isinstance(i, types.Integer):
        return None
    if v.stacked:

        def impl(v, i):
            s = np.intp(v._starts[np.uintp(i)])
            e = np.intp(v._ends[np.uintp(i)])
            h = np.intp(v._ishift[np.uintp(i)])
            return _span(v._data, s, e), _span(v._indices, s + h, e + h)

    else:

        def impl(v, i):
            s = np.intp(v._starts[np.uintp(i)])
            e = np.intp(v._ends[np.uintp(i)])
            return _span(v._data, s, e), _span(v._indices, s, e)

    return impl


@overload_method(CSRViewType, "row_nnz", inline="always")
def _ol_row_nnz(v, i):
    """Implement ``v.row_nnz(i)``: stored entries of row ``i`` (before column masking)."""
    if not isinstance(i, types.Integer):
        return None

    def impl(v, i):
        return np.intp(v._ends[np.uintp(i)]) - np.intp(v._starts[np.uintp(i)])

    return impl


@overload_method(CSRViewType, "col", inline="always")
def _ol_col(v, j):
    """``v.col(j)``: view column of source column ``j``, or -1 if dropped.

    Compiles to the identity for views without a column subset.
    """
    if not isinstance(j, types.Integer):
        return None
    if v.has_colmap:

        def impl(v, j):
            return v._colmap[np.uintp(j)]

    else:

        def impl(v, j):
            return j

    return impl


@overload_attribute(CSRViewType, "has_colmap")
def _ol_has_colmap(v):
    flag = v.has_colmap
    return lambda v: flag


@overload_attribute(CSRViewType, "stacked")
def _ol_stacked(v):
    flag = v.stacked
    return lambda v: flag


# ============================================================================
# Validation (O(nnz), jitted, no copy)
# ============================================================================


#: Supported dtypes of the nonzero values and of the index arrays.
_DATA_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


@njit(parallel=True, cache=True, nogil=True)
def _scan_compressed(indptr, indices, n_cols, nnz_max):  # pragma: no cover - jitted
    """Count structural problems of a compressed-sparse index structure.

    Returns
    -------
    bad_rows
        Rows whose ``[indptr[i], indptr[i + 1])`` is not a valid range of
        ``[0, nnz_max)``.
    out_of_range
        Stored indices outside ``[0, n_cols)``.
    not_increasing
        Stored indices not strictly greater than their predecessor in the row
        (unsorted or duplicate entries).
    """
    n_rows = indptr.size - 1
    bad_rows = 0
    out_of_range = 0
    not_increasing = 0
    for i in prange(n_rows):
        s = np.intp(indptr[i])
        e = np.intp(indptr[i + 1])
        if s < 0 or e < s or e > nnz_max:
            bad_rows += 1
        else:
            oor = 0
            dec = 0
            prev = np.intp(-1)
            for k in range(s, e):
                j = np.intp(indices[k])
                oor += (j < 0) | (j >= n_cols)
                dec += j <= prev
                prev = j
            out_of_range += oor
            not_increasing += dec
    return bad_rows, out_of_range, not_increasing


def _check_array(name: str, arr: object, dtypes: tuple[np.dtype, ...]) -> None:
    """Raise if ``arr`` is not a native-endian, 1D, C-contiguous array of ``dtypes``."""
    if not isinstance(arr, np.ndarray):
        msg = f"`{name}` must be a numpy array, got {type(arr).__name__}"
        raise TypeError(msg)
    if arr.dtype not in dtypes or not arr.dtype.isnative:
        allowed = ", ".join(str(d) for d in dtypes)
        msg = f"unsupported {name} dtype {arr.dtype!s} (supported: {allowed}, native byte order)"
        raise TypeError(msg)
    if arr.ndim != 1:
        msg = f"`{name}` must be 1-dimensional, got {arr.ndim} dimensions"
        raise ValueError(msg)
    if not arr.flags.c_contiguous:
        msg = (
            f"`{name}` is not contiguous in memory; a view cannot be taken without "
            "copying it (pass a matrix with contiguous arrays, e.g. `X.copy()`)"
        )
        raise ValueError(msg)


def _compressed_arrays(
    x: object, fmt: str
) -> tuple[NDArray, NDArray, NDArray, tuple[int, int]]:
    """Return ``(data, indices, indptr, shape)`` of a scipy CSR or CSC matrix/array.

    Only cheap checks are done here (types, dtypes, layout, sizes); the O(nnz)
    checks are in :func:`_validate_structure`.

    Parameters
    ----------
    x
        The scipy sparse matrix or array.
    fmt
        ``"csr"`` or ``"csc"``: the required format.
    """
    if not sparse.issparse(x):
        msg = f"expected a scipy.sparse {fmt.upper()} matrix or array, got {type(x).__name__}"
        raise TypeError(msg)
    if x.format != fmt:
        hint = {"csr": "csr_view", "csc": "csc_view"}.get(x.format)
        hint = f" (use {hint} for {x.format.upper()} input)" if hint else ""
        msg = f"expected a {fmt.upper()} matrix or array, got format {x.format!r}{hint}"
        raise TypeError(msg)
    if len(x.shape) != 2:
        msg = f"expected a 2D sparse matrix, got shape {x.shape}"
        raise ValueError(msg)
    data, indices, indptr = x.data, x.indices, x.indptr
    _check_array("data", data, _DATA_DTYPES)
    _check_array("indices", indices, _INDEX_DTYPES)
    _check_array("indptr", indptr, _INDEX_DTYPES)
    n_major = x.shape[0] if fmt == "csr" else x.shape[1]
    n_minor = x.shape[1] if fmt == "csr" else x.shape[0]
    if indptr.size != n_major + 1:
        msg = f"indptr has {indptr.size} entries, expected {n_major + 1}"
        raise ValueError(msg)
    return data, indices, indptr, (n_major, n_minor)


def _scan(data: NDArray, indices: NDArray, indptr: NDArray, n_cols: int) -> int:
    """Count unsorted/duplicated entries; raise :class:`ValueError` on invalid structure."""
    nnz_max = min(data.size, indices.size)
    bad_rows, out_of_range, not_increasing = _scan_compressed(
        indptr, indices, n_cols, nnz_max
    )
    if bad_rows:
        msg = (
            f"invalid indptr: {bad_rows} rows have decreasing or out-of-bounds offsets"
        )
        raise ValueError(msg)
    if out_of_range:
        msg = f"{out_of_range} stored indices are outside [0, {n_cols})"
        raise ValueError(msg)
    return int(not_increasing)


def _validate_structure(
    data: NDArray, indices: NDArray, indptr: NDArray, n_cols: int
) -> None:
    """Raise :class:`ValueError` unless the CSR structure is valid and canonical.

    Valid: every ``[indptr[i], indptr[i+1])`` is a range within ``data`` and
    ``indices``, every index is in ``[0, n_cols)``. Canonical: indices strictly
    increase within each row (sorted, no duplicates). O(nnz), parallel, no
    allocation, never modifies the arrays.
    """
    not_increasing = _scan(data, indices, indptr, n_cols)
    if not_increasing:
        msg = (
            f"matrix is not in canonical format: {not_increasing} stored indices are "
            "unsorted or duplicated within their row (fix a copy with "
            "`X = X.copy(); X.sum_duplicates()`)"
        )
        raise ValueError(msg)


def check_canonical(x: object) -> bool:
    """Whether a CSR/CSC matrix has sorted indices without duplicates.

    Unlike scipy's ``has_canonical_format`` this never trusts (nor sets) a
    cached flag: it scans the index arrays (O(nnz), parallel, no copy).

    Parameters
    ----------
    x
        A scipy ``csr_matrix``, ``csr_array``, ``csc_matrix`` or ``csc_array``.

    Returns
    -------
    ``True`` iff, within every row (CSR) or column (CSC), the stored indices are
    strictly increasing.

    Raises
    ------
    TypeError
        If ``x`` is not CSR/CSC or has unsupported dtypes.
    ValueError
        If the index structure is invalid (bad ``indptr``, out-of-range indices).
    """
    fmt = "csc" if getattr(x, "format", None) == "csc" else "csr"
    data, indices, indptr, (_, n_minor) = _compressed_arrays(x, fmt)
    return _scan(data, indices, indptr, n_minor) == 0


# ============================================================================
# Python view objects
# ============================================================================


class CSRView:
    """Zero-copy view of a set of rows (and optionally columns) of CSR-like data.

    Do not instantiate directly: use :func:`csr_view`, :func:`csc_view` or
    :func:`vstack_view`, then :meth:`rows` / :meth:`cols` to restrict.
    Instances are immutable and can be passed to numba-jitted functions, where
    they expose ``n_rows``, ``n_cols``, ``row(i)``, ``row_nnz(i)`` and ``col(j)``
    (see :mod:`scanpy_kernels.sparse`).
    """

    __slots__ = (
        "_colmap",
        "_data",
        "_ends",
        "_indices",
        "_ishift",
        "_n_cols",
        "_n_rows",
        "_nnz",
        "_numba_type_",
        "_owner",
        "_starts",
        "_transposed",
    )

    def __init__(
        self,
        data: NDArray,
        indices: NDArray,
        starts: NDArray,
        ends: NDArray,
        *,
        n_cols: int,
        ishift: NDArray | None = None,
        colmap: NDArray | None = None,
        owner: object = None,
        transposed: bool = False,
    ) -> None:
        self._data = data
        self._indices = indices
        self._starts = starts
        self._ends = ends
        self._ishift = ishift
        self._colmap = colmap
        self._n_rows = int(starts.size)
        self._n_cols = int(n_cols)
        self._owner = owner  # keeps source arrays alive (stacked views)
        self._transposed = transposed
        self._nnz: int | None = None
        self._numba_type_ = _view_type(
            data.dtype,
            indices.dtype,
            starts.dtype,
            has_colmap=colmap is not None,
            stacked=ishift is not None,
        )

    def _derive(self, **changes: object) -> CSRView:
        """Make a view sharing this one's arrays, with some members replaced."""
        kw = dict(
            data=self._data,
            indices=self._indices,
            starts=self._starts,
            ends=self._ends,
            n_cols=self._n_cols,
            ishift=self._ishift,
            colmap=self._colmap,
            owner=self._owner,
            transposed=self._transposed,
        )
        kw.update(changes)
        return CSRView(**kw)

    # --- properties -----------------------------------------------------------

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_cols)`` of the view (for :func:`csc_view`: the transpose)."""
        return (self._n_rows, self._n_cols)

    @property
    def n_rows(self) -> int:
        """Number of rows of the view."""
        return self._n_rows

    @property
    def n_cols(self) -> int:
        """Number of columns of the view."""
        return self._n_cols

    @property
    def n_source_cols(self) -> int:
        """Number of columns of the source (range of the indices seen by kernels)."""
        return self._n_cols if self._colmap is None else int(self._colmap.size)

    @property
    def dtype(self) -> np.dtype:
        """Dtype of the stored values."""
        return self._data.dtype

    @property
    def index_dtype(self) -> np.dtype:
        """Dtype of the stored column indices (as in the source matrix)."""
        return self._indices.dtype

    @property
    def has_colmap(self) -> bool:
        """Whether the view keeps only a subset of the source columns."""
        return self._colmap is not None

    @property
    def stacked(self) -> bool:
        """Whether the view stacks several blocks (see :func:`vstack_view`)."""
        return self._ishift is not None

    @property
    def transposed(self) -> bool:
        """Whether the view's rows are the columns of a CSC source."""
        return self._transposed

    @property
    def nnz(self) -> int:
        """Number of stored entries in the view (in kept rows and columns)."""
        if self._nnz is None:
            if self._colmap is None:
                # sum(ends - starts) without a temporary; int64 sums may wrap
                # (virtual offsets of stacked views) but their difference is exact.
                with np.errstate(over="ignore"):
                    total = np.sum(self._ends, dtype=np.int64) - np.sum(
                        self._starts, dtype=np.int64
                    )
                self._nnz = int(total)
            else:
                self._nnz = int(_view_nnz(self))
        return self._nnz

    def __copy__(self) -> CSRView:
        return self  # immutable

    def __reduce__(self) -> tuple:
        # Stacked views address their blocks through a virtual array spanning
        # memory they do not own: serialising it would read that memory.
        msg = "CSRView cannot be pickled or deep-copied; pickle the source matrices"
        raise TypeError(msg)

    def __repr__(self) -> str:
        kind = ["stacked"] * self.stacked + ["column subset"] * self.has_colmap
        kind_str = f", {' & '.join(kind)}" if kind else ""
        return (
            f"<CSRView {self._n_rows}x{self._n_cols}, {self.dtype}, "
            f"indices {self.index_dtype}{kind_str}>"
        )

    # --- restriction ----------------------------------------------------------

    def rows(self, sel: slice | ArrayLike) -> CSRView:
        """Restrict to some rows (zero copy of data and indices).

        Parameters
        ----------
        sel
            A slice (step 1: the row offsets are sliced, nothing is copied;
            other steps: as an index array), an integer index array (negative
            indices count from the end; repeats and any order are allowed) or a
            boolean mask of length ``n_rows``. Index arrays and masks create
            O(len(sel)) per-row offset arrays.
        """
        if isinstance(sel, slice):
            start, stop, step = sel.indices(self._n_rows)
            if step == 1:
                stop = max(start, stop)
                return self._subset_rows(slice(start, stop))
            return self._subset_rows(np.arange(start, stop, step, dtype=np.intp))
        return self._subset_rows(_normalize_index(sel, self._n_rows, "row"))

    def _subset_rows(self, idx: slice | NDArray) -> CSRView:
        ishift = None if self._ishift is None else self._ishift[idx]
        return self._derive(
            starts=self._starts[idx], ends=self._ends[idx], ishift=ishift
        )

    def cols(self, sel: slice | ArrayLike) -> CSRView:
        """Restrict to some columns (zero copy; builds an O(n_source_cols) map).

        Parameters
        ----------
        sel
            A boolean mask of length ``n_cols``, an array of distinct column
            indices of this view, or a slice. Kept columns are renumbered
            ``0..k-1`` in mask order or in the order of the index array.
        """
        if isinstance(sel, slice):
            sel = np.arange(*sel.indices(self._n_cols), dtype=np.intp)
        idx = _normalize_index(sel, self._n_cols, "column")
        if np.unique(idx).size != idx.size:
            msg = "column indices must be distinct"
            raise ValueError(msg)
        new_of_view = np.full(self._n_cols, -1, dtype=np.intp)
        new_of_view[idx] = np.arange(idx.size, dtype=np.intp)
        if self._colmap is None:
            colmap = new_of_view
        else:  # compose: source -> current view column -> new view column
            colmap = np.where(self._colmap >= 0, new_of_view[self._colmap], -1)
        return self._derive(colmap=colmap, n_cols=idx.size)

    # --- materialisation (tests, debugging) -------------------------------------

    def to_scipy(self) -> sparse.csr_array:
        """Copy the view into a new ``csr_array`` of shape :attr:`shape`.

        Columns are view columns; with a column index array that reorders
        columns, indices within a row may be unsorted. Allocates O(nnz).
        """
        lengths = (self._ends.astype(np.int64) - self._starts).astype(np.intp)
        total = int(lengths.sum())
        row_of = np.repeat(np.arange(self._n_rows, dtype=np.intp), lengths)
        first = np.cumsum(lengths) - lengths  # position of each row's first entry
        pos = np.arange(total, dtype=np.intp) + np.repeat(
            self._starts.astype(np.intp) - first, lengths
        )
        data = self._data[pos]
        ipos = pos if self._ishift is None else pos + self._ishift[row_of]
        cols = self._indices[ipos].astype(np.intp)
        if self._colmap is not None:
            cols = self._colmap[cols]
            keep = cols >= 0
            data, cols, row_of = data[keep], cols[keep], row_of[keep]
        indptr = np.zeros(self._n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row_of, minlength=self._n_rows), out=indptr[1:])
        return sparse.csr_array((data, cols, indptr), shape=self.shape)


@typeof_impl.register(CSRView)
def _typeof_view(val: CSRView, c: object) -> CSRViewType:
    # Direct registration: faster dispatch than numba's generic fallback.
    return val._numba_type_


@njit(cache=True, nogil=True)
def _view_nnz(v):  # pragma: no cover - jitted
    """Count the stored entries of a view in kept columns."""
    n = 0
    for i in range(v.n_rows):
        _, idx = v.row(i)
        for k in range(idx.size):
            n += v.col(idx[k]) >= 0
    return n


@cache
def _view_type(
    dtype: np.dtype,
    index_dtype: np.dtype,
    offset_dtype: np.dtype,
    *,
    has_colmap: bool,
    stacked: bool,
) -> CSRViewType:
    return CSRViewType(
        from_dtype(dtype),
        from_dtype(index_dtype),
        from_dtype(offset_dtype),
        has_colmap=has_colmap,
        stacked=stacked,
    )


def _normalize_index(sel: ArrayLike, n: int, what: str) -> NDArray:
    """Turn a boolean mask or integer index array over ``n`` items into intp indices."""
    arr = np.asarray(sel)
    if arr.ndim != 1:
        msg = f"{what} selection must be 1-dimensional, got shape {arr.shape}"
        raise ValueError(msg)
    if arr.dtype == np.bool_:
        if arr.size != n:
            msg = f"boolean {what} mask has length {arr.size}, expected {n}"
            raise ValueError(msg)
        return np.flatnonzero(arr)
    if arr.size == 0:
        return np.empty(0, dtype=np.intp)
    if not np.issubdtype(arr.dtype, np.integer):
        msg = f"{what} selection must be a slice, boolean mask or integer array, got dtype {arr.dtype}"
        raise TypeError(msg)
    lo, hi = int(arr.min()), int(arr.max())
    if lo < -n or hi >= n:
        msg = f"{what} index out of range for {n} {what}s (got min {lo}, max {hi})"
        raise ValueError(msg)
    arr = arr.astype(np.intp, copy=False)
    return np.where(arr < 0, arr + n, arr) if lo < 0 else arr


# --- constructors -----------------------------------------------------------------


def _compressed_view(x: object, fmt: str, *, check: bool) -> CSRView:
    data, indices, indptr, (_, n_minor) = _compressed_arrays(x, fmt)
    if check:
        _validate_structure(data, indices, indptr, n_minor)
    return CSRView(
        data,
        indices,
        indptr[:-1],
        indptr[1:],
        n_cols=n_minor,
        transposed=fmt == "csc",
    )


def csr_view(x: sparse.csr_matrix | sparse.csr_array, *, check: bool = True) -> CSRView:
    """Zero-copy view of a CSR matrix or array.

    Parameters
    ----------
    x
        A ``csr_matrix`` or ``csr_array`` with float32/float64 values and
        int32/int64 indices (kept as they are: nothing is converted or copied).
    check
        Validate the index structure and that it is canonical (O(nnz) parallel
        scan, no allocation). Pass ``False`` only for trusted input.

    Raises
    ------
    TypeError
        Not a CSR matrix/array, or unsupported dtypes.
    ValueError
        Non-contiguous arrays, invalid structure or non-canonical indices.
    """
    return _compressed_view(x, "csr", check=check)


def csc_view(x: sparse.csc_matrix | sparse.csc_array, *, check: bool = True) -> CSRView:
    """Zero-copy view of a CSC matrix or array whose *rows are its columns*.

    The result has the same type as ``csr_view(x.T)``: kernels written for
    cells on CSR run unchanged for genes on CSC. See :func:`csr_view` for the
    parameters and errors.
    """
    return _compressed_view(x, "csc", check=check)


def _as_view(block: object, *, check: bool) -> CSRView:
    if isinstance(block, CSRView):
        return block
    if sparse.issparse(block) and block.format == "csr":
        return csr_view(block, check=check)
    msg = f"vstack_view blocks must be CSR matrices/arrays or CSRViews, got {type(block).__name__}"
    if sparse.issparse(block):
        msg += f" in format {block.format!r}"
    raise TypeError(msg)


def vstack_view(blocks: Sequence[object], *, check: bool = True) -> CSRView:
    """Zero-copy vertical stack of CSR blocks (matrices, arrays or views).

    Nothing is concatenated: each block's data and indices stay where they are.
    The stacked view stores three O(n_rows) int64 arrays (row starts, ends and
    the data-to-indices offset). Blocks may be row subsets or stacks themselves.

    Parameters
    ----------
    blocks
        CSR matrices/arrays or :class:`CSRView` without column subset, with
        equal column counts, equal value dtypes and equal index dtypes.
    check
        Validate scipy blocks (see :func:`csr_view`).
    """
    views = [_as_view(b, check=check) for b in blocks]
    if not views:
        msg = "vstack_view needs at least one block"
        raise ValueError(msg)
    first = views[0]
    for k, v in enumerate(views):
        if v.has_colmap:
            msg = f"block {k} has a column subset; stack first, then call .cols()"
            raise ValueError(msg)
        if v.n_cols != first.n_cols:
            msg = f"block {k} has {v.n_cols} columns, block 0 has {first.n_cols}"
            raise ValueError(msg)
        if v.dtype != first.dtype or v.index_dtype != first.index_dtype:
            msg = (
                f"block {k} has dtypes ({v.dtype}, indices {v.index_dtype}), block 0 has "
                f"({first.dtype}, indices {first.index_dtype}); convert them first"
            )
            raise TypeError(msg)
    if len(views) == 1:
        return first
    return _stack(views)


def _stack(views: list[CSRView]) -> CSRView:
    """Stack views by addressing all blocks from one *virtual* base array.

    The data (resp. indices) arrays of all blocks are addressed through a
    read-only array starting at the lowest block address and spanning up to
    the highest block end (``as_strided``, no allocation). Its gaps between
    blocks are never read: kernels only slice the rows' ``[start, end)`` ranges.
    Row ``i`` of block ``b`` becomes ``starts = offset_b + start_i`` into the
    virtual data array and ``ishift = offset'_b - offset_b`` to address the
    virtual indices array.
    """
    # Only blocks with entries are addressed; the others contribute rows of
    # length 0 anchored at offset 0 (their arrays may be anywhere, even unaligned).
    live = [k for k, v in enumerate(views) if v.nnz] or [0]
    vdata, doffs = _virtual_base([views[k]._data for k in live], "data")
    vidx, ioffs = _virtual_base([views[k]._indices for k in live], "indices")
    offsets = {k: (d, i) for k, d, i in zip(live, doffs, ioffs, strict=True)}
    # Per-row int64 offsets, filled block by block (no temporaries).
    n_rows = sum(v.n_rows for v in views)
    starts = np.zeros(n_rows, dtype=np.int64)
    ends = np.zeros(n_rows, dtype=np.int64)
    shifts = np.zeros(n_rows, dtype=np.int64)
    lo = 0
    for k, v in enumerate(views):
        hi = lo + v.n_rows
        if k in offsets:
            doff, ioff = offsets[k]
            np.add(v._starts, doff, out=starts[lo:hi])
            np.add(v._ends, doff, out=ends[lo:hi])
            shifts[lo:hi] = ioff - doff
            if v._ishift is not None:
                shifts[lo:hi] += v._ishift
        lo = hi
    owner = tuple(
        v._owner if v._owner is not None else (v._data, v._indices) for v in views
    )
    return CSRView(
        vdata,
        vidx,
        starts,
        ends,
        ishift=shifts,
        n_cols=views[0].n_cols,
        owner=owner,
        transposed=views[0].transposed,
    )


def _virtual_base(arrays: list[NDArray], what: str) -> tuple[NDArray, list[int]]:
    """Make a read-only array covering all ``arrays``; return it and their offsets in it."""
    itemsize = arrays[0].itemsize
    addrs = [a.__array_interface__["data"][0] for a in arrays]
    base = min(addrs)
    end = max(a + arr.nbytes for a, arr in zip(addrs, arrays, strict=True))
    if any((a - base) % itemsize for a in addrs):
        msg = f"cannot stack: block {what} arrays are not aligned to their item size; pass aligned copies"
        raise ValueError(msg)
    base_arr = arrays[addrs.index(base)]
    virtual = np.lib.stride_tricks.as_strided(
        base_arr,
        shape=((end - base) // itemsize,),
        strides=(itemsize,),
        writeable=False,
    )
    return virtual, [(a - base) // itemsize for a in addrs]
