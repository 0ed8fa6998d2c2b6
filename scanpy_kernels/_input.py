"""The one input layer: what a scanpy frontend holds -> what the kernels take.

:func:`as_matrix` takes a scipy CSR/CSC matrix or array, a numpy array or an
``np.matrix`` and returns a :class:`Matrix`: the kernel input (format, float32/float64
native-endian values, one int32/int64 index dtype, C-contiguous arrays, sorted indices
without duplicates where the caller needs them).  It never modifies its argument:
whatever has to change (dtype, byte order, a strided ``data``, ``uint32`` or mixed
index dtypes, unsorted or duplicate entries) changes on a copy, a cost only such rare
inputs pay.  Anything else (dask arrays, backed matrices, 1D or 3D arrays) raises
:class:`UnsupportedInputError`: the frontend's named fallback to scanpy's own code.

Corrupt index structures (``indptr`` decreasing or past the stored values, indices
outside the matrix) raise a :class:`ValueError` (scipy and scanpy would read out of
bounds), checked by :func:`check_canonical` in one parallel pass.

>>> import numpy as np, scipy.sparse as sp
>>> x = sp.csr_array((np.ones(3), [1, 0, 1], [0, 2, 3]), shape=(2, 2))  # row 0 unsorted
>>> m = as_matrix(x)
>>> m.fmt, m.indices.tolist(), x.indices.tolist()  # sorted on a copy
('csr', [0, 1, 1], [1, 0, 1])
>>> as_matrix(np.eye(2, dtype=np.int64)).data.dtype
Traceback (most recent call last):
...
scanpy_kernels._input.UnsupportedInputError: values of dtype int64 (kernels take float32/float64)
>>> as_matrix(np.eye(2, dtype=np.int64), convert=True).data.dtype
dtype('float64')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numba
import numpy as np
from scipy import sparse

from .toolkit import kernel

if TYPE_CHECKING:
    from typing import Literal

    from numpy.typing import NDArray

__all__ = [
    "FLOATS",
    "DuplicateEntriesError",
    "Matrix",
    "UnsupportedInputError",
    "as_matrix",
    "check_canonical",
    "corrupt_error",
    "sorted_indices",
]

#: value dtypes every kernel takes
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

#: check_canonical's verdicts
CANONICAL, UNSORTED, DUPLICATES, CORRUPT = 0, 1, 2, 3


class UnsupportedInputError(TypeError):
    """The kernels do not take this input: the frontend runs scanpy's own code."""


class DuplicateEntriesError(ValueError):
    """A sparse matrix stores an entry twice, and the caller asked to refuse that."""


@dataclass(frozen=True, slots=True)
class Matrix:
    """A matrix as the kernels take it.

    ``fmt`` ``"csr"``/``"csc"``: ``data``, ``indices``, ``indptr`` are the compressed
    components (indices and indptr of one dtype); ``"dense"``: ``data`` is the
    C-contiguous 2D array (any memory order with ``as_matrix(x, strided=True)``).
    ``shape`` is ``(n_rows, n_cols)`` either way.
    """

    fmt: Literal["csr", "csc", "dense"]
    data: NDArray
    indices: NDArray | None
    indptr: NDArray | None
    shape: tuple[int, int]
    #: False: entries in stored order, unsorted (CSC kept by ``as_matrix(sort_csc=False)``)
    #: or not checked (``as_matrix(stored=True)``, duplicates possible too)
    sorted: bool = True

    @property
    def arrays(self) -> tuple[NDArray, ...]:
        """The kernel arguments that hold the matrix: components, or the array."""
        if self.fmt == "dense":
            return (self.data,)
        return (self.data, self.indices, self.indptr)

    @property
    def args(self) -> tuple:
        """The leading kernel arguments (the kernels' one calling convention).

        ``(data, indices, indptr, n_rows, n_cols)`` for CSR/CSC, ``(x,)`` for dense.
        """
        return self.arrays if self.fmt == "dense" else (*self.arrays, *self.shape)

    @property
    def n_major(self) -> int:
        """Rows of CSR and dense, columns of CSC."""
        return self.shape[1] if self.fmt == "csc" else self.shape[0]

    def major_block(
        self, start: int, stop: int, values: NDArray | None = None
    ) -> Matrix:
        """Rows (CSR) or columns (CSC) ``start:stop`` as views, with other `values`.

        ``values`` replaces the block's stored values (same length), e.g. a block of
        un-logged values; by default the block's own.
        """
        p0, p1 = self.indptr[start], self.indptr[stop]
        n = stop - start
        shape = (n, self.shape[1]) if self.fmt == "csr" else (self.shape[0], n)
        return replace(
            self,
            data=self.data[p0:p1] if values is None else values,
            indices=self.indices[p0:p1],
            indptr=self.indptr[start : stop + 1] - p0,
            shape=shape,
        )


def _value_dtype(dtype: np.dtype, *, convert: bool) -> np.dtype:
    """Return the kernels' dtype for values of `dtype`: the same floats, or float64."""
    native = np.dtype(dtype.type)  # (numpy copies for a dtype spelled "=" not "<")
    if native in FLOATS:
        return native  # a byte swap changes no value
    if convert and dtype.kind in "biuf":
        return np.dtype(np.float64)  # exact for integers below 2**53 and float16
    msg = f"values of dtype {dtype} (kernels take float32/float64)"
    raise UnsupportedInputError(msg)


def _index_dtype(*dtypes: np.dtype) -> np.dtype:
    """int32 if every index array fits it by dtype, else int64 (``uint32`` too)."""
    if all(d.kind == "i" and d.itemsize <= 4 for d in dtypes):
        return np.dtype(np.int32)
    return np.dtype(np.int64)


def as_matrix(
    x: object,
    *,
    convert: bool = False,
    sort_csc: bool = False,
    duplicates: Literal["sum", "raise", "unsupported"] = "raise",
    stored: bool = False,
    strided: bool = False,
) -> Matrix:
    """Return ``x`` as the kernels take it, or raise :class:`UnsupportedInputError`.

    Parameters
    ----------
    x
        A scipy CSR/CSC matrix or array, a 2D numpy array or an ``np.matrix``.
    convert
        Convert values of other real dtypes (integers, bool, float16) to float64 and
        make a dense array that is not C-contiguous contiguous (copies).  Without it
        those raise :class:`UnsupportedInputError`: where scanpy's result depends on the dtype
        or the memory order (numpy's pairwise sums along a Fortran array), the
        frontend keeps scanpy's code.
    sort_csc
        Sort unsorted CSC indices (on a copy).  CSC kernels accumulate each column in
        stored order, as scipy and fast-array-utils do, so by default a CSC matrix
        keeps its order; CSR indices are always sorted (the kernels search rows).
    duplicates
        Entries stored twice: ``"sum"`` them (on a copy, as scipy's
        ``sum_duplicates``), ``"raise"`` a ValueError, or leave them to scanpy's
        own code (``"unsupported"``: :class:`UnsupportedInputError`), where its
        result depends on how the duplicates are stored.
    stored
        Take CSR/CSC entries as stored, in any order and duplicates too (``sorted``
        is False), for kernels that map each stored value to one output value or sum
        a row's values in stored order, as scanpy does: nothing is copied or sorted.
        Only ``indptr`` is checked (O(rows)); kernels that index by ``indices``
        check their range themselves.
    strided
        Keep a float32/float64 array in any memory order (no copy), for kernels
        declared over ``[:, :]`` arrays (``metrics``: scanpy's ``vals`` is ``X.T``).

    Raises
    ------
    UnsupportedInputError
        For other array types and, without `convert`, other dtypes or memory orders;
        for duplicates with ``duplicates="unsupported"``.
    ValueError
        For a corrupt index structure, or duplicates with ``duplicates="raise"``.

    >>> x = sparse.csr_array((np.ones(3), [1, 0, 1], [0, 2, 3]), shape=(2, 2))
    >>> as_matrix(x, stored=True).indices.tolist()  # as stored
    [1, 0, 1]
    """
    if isinstance(x, np.ndarray):
        x = np.asarray(x)  # np.matrix: a view
        if x.ndim != 2:
            msg = f"a {x.ndim}D array"
            raise UnsupportedInputError(msg)
        dtype = _value_dtype(x.dtype, convert=convert)
        contiguous = x.flags.c_contiguous or strided
        if x.dtype != dtype or not contiguous:
            if not (convert or contiguous):
                msg = "an array that is not C-contiguous"
                raise UnsupportedInputError(msg)
            x = np.ascontiguousarray(x, dtype=dtype)
        return Matrix("dense", x, None, None, x.shape)
    if not (sparse.issparse(x) and x.format in {"csr", "csc"}):
        msg = f"a {type(x).__module__}.{type(x).__qualname__}"
        raise UnsupportedInputError(msg)
    dtype = _value_dtype(x.dtype, convert=convert)
    index = _index_dtype(x.indices.dtype, x.indptr.dtype)
    m = Matrix(
        x.format,
        np.ascontiguousarray(x.data, dtype=dtype),
        np.ascontiguousarray(x.indices, dtype=index),
        np.ascontiguousarray(x.indptr, dtype=index),
        x.shape,
    )
    if stored:
        _check_indptr(m)
        return replace(m, sorted=False)
    verdict = _structure(m)
    if verdict == DUPLICATES:
        return _canonical(m, duplicates=duplicates)
    if verdict == UNSORTED:
        return (
            _canonical(m, duplicates=duplicates)
            if sort_csc or m.fmt == "csr"
            else replace(m, sorted=False)
        )
    return m


def sorted_indices(m: Matrix) -> Matrix:
    """`m` with sorted indices: itself, or a sorted copy of a matrix kept as stored.

    For the kernels whose result must equal scanpy's on sorted indices (where scanpy
    converted to CSR, or scipy sorted, or a kernel searches rows) while others keep
    the stored order.  A matrix taken as stored is checked first (one parallel pass)
    and copied only if it is unsorted.  Duplicate entries raise
    :class:`DuplicateEntriesError`.
    """
    if m.sorted:
        return m
    if _structure(m) == CANONICAL:
        return replace(m, sorted=True)
    return _canonical(m, duplicates="raise")


def _canonical(
    m: Matrix, *, duplicates: Literal["sum", "raise", "unsupported"]
) -> Matrix:
    """Return a sorted copy of `m`, its duplicates summed or refused."""
    cls = sparse.csr_array if m.fmt == "csr" else sparse.csc_array
    y = cls((m.data.copy(), m.indices.copy(), m.indptr.copy()), shape=m.shape)
    y.has_sorted_indices = False  # never trust a flag: scipy sorts in place
    y.sort_indices()
    if _structure(replace(m, indices=y.indices, indptr=y.indptr)) == DUPLICATES:
        if duplicates == "unsupported":
            msg = "a matrix with duplicate entries"
            raise UnsupportedInputError(msg)
        if duplicates == "raise":
            msg = (
                "The matrix has duplicate entries (the same cell and gene stored "
                "twice). Call `.sum_duplicates()` on it first."
            )
            raise DuplicateEntriesError(msg)
        y.has_canonical_format = False
        y.sum_duplicates()
    index = _index_dtype(y.indices.dtype, y.indptr.dtype)
    return replace(
        m,
        data=y.data,
        indices=y.indices.astype(index, copy=False),
        indptr=y.indptr.astype(index, copy=False),
        sorted=True,
    )


def corrupt_error(m: Matrix) -> ValueError:
    """Return the error for indices or an ``indptr`` pointing outside the matrix."""
    msg = (
        f"The sparse matrix's index arrays are corrupt: `indptr` decreases or "
        f"points past the {m.data.size} stored values, or an index lies outside "
        f"the matrix of shape {m.shape}."
    )
    return ValueError(msg)


def _check_indptr(m: Matrix) -> None:
    """Raise unless ``indptr`` runs from 0 up to the stored values, never decreasing."""
    p = m.indptr
    if (
        p.size != m.n_major + 1
        or p[0] != 0
        or p[-1] != m.data.size
        or np.any(p[1:] < p[:-1])
    ):
        raise corrupt_error(m)


def _structure(m: Matrix) -> int:
    """:func:`check_canonical` of `m`'s components; a corrupt structure raises."""
    verdict = check_canonical(
        m.indices, m.indptr, m.shape[0] if m.fmt == "csc" else m.shape[1], m.data.size
    )
    if verdict == CORRUPT or m.indptr.size != m.n_major + 1:
        raise corrupt_error(m)
    return int(verdict)


def _structure_example(rng):
    out = []
    for index in (np.int32, np.int64):
        x = sparse.random(60, 40, density=0.2, format="csr", random_state=rng)
        ind, ptr = x.indices.astype(index), x.indptr.astype(index)
        out.append((ind, ptr, 40, x.nnz))
        bad = ind.copy()
        bad[[3, 4]] = bad[[4, 3]]  # unsorted somewhere
        out.append((bad, ptr, 40, x.nnz))
        dup = ind.copy()
        dup[ptr[5] + 1] = dup[ptr[5]]  # a duplicate (row 5 has entries)
        out.append((dup, ptr, 40, x.nnz))
        out.append((ind, ptr, 10, x.nnz))  # indices out of range
    return out


@kernel(
    signatures=[f"int64({i}[::1], {i}[::1], int64, int64)" for i in ("int32", "int64")],
    example=_structure_example,
)
def check_canonical(indices, indptr, n_minor, nnz):
    """Return the structure of a compressed index: canonical, unsorted, duplicates, corrupt.

    ``CORRUPT`` (3) if a row's ``indptr[i]:indptr[i + 1]`` is not a range of
    ``[0, nnz)`` or an index lies outside ``[0, n_minor)``; else ``DUPLICATES`` (2) if
    a row stores an index twice in a row (adjacent: a sorted row shows every
    duplicate), else ``UNSORTED`` (1) if a row's indices decrease somewhere, else
    ``CANONICAL`` (0).  Never trusts (nor sets) scipy's cached flags.  O(nnz).
    """
    n_rows = indptr.shape[0] - 1
    corrupt = 0
    equal = 0
    decreasing = 0
    for i in numba.prange(n_rows):
        s = np.int64(indptr[i])
        e = np.int64(indptr[i + 1])
        if s < 0 or e < s or e > nnz:
            corrupt += 1
        else:
            row = indices[s:e]
            prev = np.int64(-1)
            for p in range(row.shape[0]):
                j = np.int64(row[p])
                corrupt += (j < 0) | (j >= n_minor)
                equal += j == prev
                decreasing += j < prev
                prev = j
    if corrupt:
        return CORRUPT
    if equal:
        return DUPLICATES
    return UNSORTED if decreasing else CANONICAL
