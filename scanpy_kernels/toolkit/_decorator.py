"""The ``kernel`` decorator: one entry point, a parallel and a serial numba build.

A :class:`Kernel` owns up to two lazily created numba dispatchers built from the same
Python function with :class:`._pipeline.KernelCompiler` (hints reach LLVM) and a
salted :class:`._cache.KernelCache`.  Each call asks :func:`._threads.plan_threads`
how many threads it may use: 1 runs the serial build (no threading layer touched at
all), more runs the parallel build under ``numba.set_num_threads`` and restores the
previous count afterwards.  A call may name its arguments: they are bound to the
Python function's signature and passed on positionally (numba dispatchers take
positional arguments only).

Also here, for declaring kernels: :func:`signatures` (the numba signatures of a
template over the data and index dtypes) and :func:`matrix_args` /
:func:`matrix_examples` (verifier inputs in the one calling convention).
"""

from __future__ import annotations

import importlib
import inspect
from functools import update_wrapper
from itertools import product
from string import Formatter
from typing import TYPE_CHECKING

import numba
import numpy as np
from numba.core.registry import CPUDispatcher
from numba.extending import register_jitable
from numba.np.ufunc.parallel import _launch_threads

from ._cache import KernelCache
from ._pipeline import KernelCompiler
from ._threads import plan_threads

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

__all__ = [
    "DATA",
    "INDEX",
    "Kernel",
    "helper",
    "kernel",
    "matrix_args",
    "matrix_examples",
    "matrix_signatures",
    "routine",
    "signatures",
]

#: value dtypes every kernel takes (``{d}`` in a signature template)
DATA = ("float32", "float64")
#: index dtypes of CSR/CSC components, one for indices and indptr (``{i}``)
INDEX = ("int32", "int64")

#: options a kernel may set, with their defaults
DEFAULTS: dict[str, Any] = dict(
    parallel=True,
    fastmath=False,
    cache=True,
    boundscheck=False,
    nogil=True,
    error_model="numpy",
)


class Kernel:
    """A compiled kernel: call it like the function it wraps.

    Attributes
    ----------
    py_func
        The Python function.
    options
        The numba options it is compiled with (``parallel`` etc.).
    signatures
        The numba signatures CI compiles and verifies it for (not compiled at import).
    example
        ``example(rng) -> [args, ...]``: generated inputs for the verifier's run-time
        check (1 thread vs all threads).
    tolerance
        Relative bound for that check; 0 means bitwise equal.
    """

    def __init__(
        self,
        py_func: Callable,
        options: dict[str, Any],
        signatures: Sequence,
        example: Callable | None = None,
        tolerance: float = 0.0,
    ) -> None:
        self.py_func = py_func
        self.options = options
        self.signatures = list(signatures)
        self.example = example
        self.tolerance = tolerance
        self._dispatchers: dict[bool, CPUDispatcher] = {}
        self._signature: inspect.Signature | None = None
        update_wrapper(self, py_func)

    def __repr__(self) -> str:
        return f"<kernel {self.__module__}.{self.__qualname__} {self.options}>"

    def __reduce__(self):
        # pickle by reference (dask ships callables to workers)
        return _import_kernel, (self.__module__, self.__qualname__)

    def dispatcher(self, *, parallel: bool | None = None) -> CPUDispatcher:
        """Get the (cached) numba dispatcher of the parallel or the serial build."""
        parallel = (
            self.options["parallel"]
            if parallel is None
            else parallel and self.options["parallel"]
        )
        if (disp := self._dispatchers.get(parallel)) is None:
            disp = self._dispatchers[parallel] = self.fresh(
                parallel=parallel, cache=self.options["cache"]
            )
        return disp

    def fresh(
        self,
        *,
        parallel: bool | None = None,
        cache: bool = False,
        pipeline_class: type[KernelCompiler] = KernelCompiler,
    ) -> CPUDispatcher:
        """Make a new dispatcher of this kernel, by default uncached (for the verifier)."""
        # nopython: what `numba.njit` sets; without it a kernel that fails type
        # inference would fall back to object mode (with a warning) instead of raising
        opts = {k: v for k, v in self.options.items() if k != "cache"}
        opts["nopython"] = True
        if parallel is not None:
            opts["parallel"] = parallel and self.options["parallel"]
        disp = CPUDispatcher(
            self.py_func, targetoptions=opts, pipeline_class=pipeline_class
        )
        if cache:
            salt = (
                repr(sorted(opts.items()))
                + f"|{pipeline_class.__module__}.{pipeline_class.__qualname__}"
            )
            disp._cache = KernelCache(self.py_func, salt)
        return disp

    def bind(self, args: tuple, kwargs: dict[str, Any]) -> tuple:
        """Return the positional arguments of a call ``kernel(*args, **kwargs)``.

        Bound to the Python function's signature (cached), as Python would bind them:
        a missing, unknown or doubly given argument raises ``TypeError``.
        """
        if self._signature is None:
            self._signature = inspect.signature(self.py_func)
        bound = self._signature.bind(*args, **kwargs)
        bound.apply_defaults()
        return bound.args

    def __call__(self, *args, **kwargs):
        if kwargs:
            args = self.bind(args, kwargs)
        n = plan_threads() if self.options["parallel"] else 1
        if n == 1:
            # a serial build loaded from the cache calls the threading layer's
            # `get_thread_id` symbol (thread-local scratch), which exists only once the
            # layer is launched: numba launches it for parallel builds, not serial ones
            # (calling it before segfaults)
            _launch_threads()
            return self.dispatcher(parallel=False)(*args)
        previous = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            return self.dispatcher(parallel=True)(*args)
        finally:
            numba.set_num_threads(previous)


def _import_kernel(module: str, qualname: str) -> Kernel:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def kernel(
    fn: Callable | None = None,
    /,
    *,
    signatures: Sequence = (),
    example: Callable | None = None,
    tolerance: float = 0.0,
    **options: Any,
) -> Kernel | Callable[[Callable], Kernel]:
    """Decorate a kernel.

    Parameters
    ----------
    fn
        The kernel's Python function (C-style numba code: arrays and sparse views only).
    signatures
        numba signatures (strings or type tuples) that CI compiles and verifies,
        e.g. one per data dtype and index dtype.  Nothing is compiled at import.
    example
        ``example(rng) -> [args, ...]``: generated inputs on which the verifier checks
        that 1 thread and all threads agree.  Required for parallel kernels.
    tolerance
        Relative bound for that agreement; 0 (default) demands bitwise equality.  Only
        per-thread float reductions need one; say why in the kernel's docstring.
    **options
        numba options: ``parallel`` (default True), ``fastmath`` (False), ``cache``
        (True), ``boundscheck`` (False), ``nogil`` (True), ``error_model`` ("numpy").

    Examples
    --------
    >>> @kernel(signatures=["float64(float32[::1])", "float64(float64[::1])"])
    ... def total(x):
    ...     s = 0.0
    ...     vectorize(x)  # lanes of x.dtype on this CPU; reorders this loop only
    ...     for i in range(x.shape[0]):
    ...         s += x[i]
    ...     return s
    """
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        msg = f"unknown kernel option(s): {sorted(unknown)}; known: {sorted(DEFAULTS)}"
        raise TypeError(msg)
    opts = {**DEFAULTS, **options}

    def decorate(f: Callable) -> Kernel:
        return Kernel(f, opts, signatures, example, tolerance)

    return decorate if fn is None else decorate(fn)


def helper(fn: Callable) -> Callable:
    """Declare a function kernels call, inlined into the caller (so hints in it work).

    Inlined into the caller's untyped IR (numba's ``InlineInlinables`` pass), so it
    is typed and compiled only as part of each caller.  (``register_jitable(inline=
    "always")``, which inlines typed IR, also compiles the function on its own for
    every argument-type combination, down to machine code it never runs: a third of
    a CSR moment kernel's cold compile time.)
    """
    return numba.njit(inline="always")(fn)


def routine(fn: Callable) -> Callable:
    """Declare a serial function kernels call, compiled once on its own (not inlined).

    For set-up code, searches and allocations outside the hot loop: inlining
    loop-heavy code into every parallel kernel and signature multiplies compile time
    (and numba's SSA pass warns about loops in functions inlined twice). Hints inside
    a routine do not reach the caller's loops.
    """
    return register_jitable(error_model="numpy", boundscheck=False)(fn)


def signatures(template: str) -> list[str]:
    """Numba signatures: ``template`` filled for every combination of its fields.

    ``{d}``: the data dtype (:data:`DATA`, float32 and float64); ``{i}``: the index
    dtype of CSR/CSC components (:data:`INDEX`, int32 and int64; indices and indptr
    share it, as ``as_matrix`` gives them).  A field may appear several times (one
    value each time); a template without fields is one signature.  Group codes are
    always ``int64[::1]`` (written out in the template).

    >>> signatures("float64({d}[::1], {i}[::1])")[:2]
    ['float64(float32[::1], int32[::1])', 'float64(float32[::1], int64[::1])']
    >>> signatures("float64({d}[:, ::1], int64[::1], int64)")
    ['float64(float32[:, ::1], int64[::1], int64)', 'float64(float64[:, ::1], int64[::1], int64)']
    """
    domains = {"d": DATA, "i": INDEX}
    fields = []
    for _, name, _, _ in Formatter().parse(template):
        if name is None:
            continue
        if name not in domains:
            msg = f"unknown field {{{name}}} in {template!r}; known: {sorted(domains)}"
            raise ValueError(msg)
        if name not in fields:
            fields.append(name)
    return [
        template.format(**dict(zip(fields, combo, strict=True)))
        for combo in product(*(domains[f] for f in fields))
    ]


def matrix_signatures(out: str, params: str = "") -> tuple[list[str], list[str]]:
    """Return the sparse and the dense :func:`signatures` of a kernel returning ``out``.

    The one calling convention: ``data, indices, indptr, n_rows, n_cols`` (CSR/CSC)
    or ``x`` (dense), then ``codes, n_groups`` and the numba types ``params``
    (comma-separated, e.g. ``"int64"``).

    >>> sparse, dense = matrix_signatures("float64[:, ::1]", "boolean")
    >>> dense[0]
    'float64[:, ::1](float32[:, ::1], int64[::1], int64, boolean)'
    >>> sparse[0]
    'float64[:, ::1](float32[::1], int32[::1], int32[::1], int64, int64, int64[::1], int64, boolean)'
    """
    tail = "int64[::1], int64" + (f", {params}" if params else "")
    return (
        signatures(f"{out}({{d}}[::1], {{i}}[::1], {{i}}[::1], int64, int64, {tail})"),
        signatures(f"{out}({{d}}[:, ::1], {tail})"),
    )


def matrix_args(x: Any, fmt: str, dtype: Any, index: Any = np.int64) -> tuple:
    """Return the leading arguments of a kernel over ``x`` stored as ``fmt`` (examples).

    ``(data, indices, indptr, n_rows, n_cols)`` for ``"csr"``/``"csc"`` (``index``
    dtype), ``(x,)`` C-contiguous for ``"dense"``: what ``Matrix.args`` gives a
    driver, i.e. the one calling convention ``kernel(*args, codes, n_groups, ...)``.
    ``x``: a 2D array, or a scipy sparse matrix (its stored zeros stay stored).
    """
    from scipy import sparse  # only the verifier's examples need it

    if fmt == "dense":
        x = x.toarray() if sparse.issparse(x) else x
        return (np.ascontiguousarray(x, dtype=dtype),)
    m = sparse.csr_matrix(x) if fmt == "csr" else sparse.csc_matrix(x)
    m = m.astype(dtype)
    return (m.data, m.indices.astype(index), m.indptr.astype(index), *m.shape)


def matrix_examples(
    cases: Callable[[np.random.Generator], Iterable[tuple]],
    fmt: str,
    params: Callable[..., Iterable[tuple]] | None = None,
    *,
    n_groups: bool = True,
) -> Callable[[np.random.Generator], list[tuple]]:
    """Make a kernel's ``example``: argument tuples in the one calling convention.

    ``cases(rng)`` yields ``(x, dtype, index, codes, n_groups)`` (a 2D array or a
    scipy sparse matrix, the data and index dtypes to store it with, int64 codes,
    the group count); each
    gives ``(*matrix_args(x, fmt, dtype, index), codes, n_groups, *p)`` for every
    ``p`` in ``params(rng, x, codes, n_groups, dtype)`` (default: one ``()``).
    ``n_groups=False``: the kernel takes no group count (it follows from a
    parameter).  A family declares its examples with this and its own ``cases``.
    """

    def example(rng: np.random.Generator) -> list[tuple]:
        out = []
        for x, dtype, index, codes, k in cases(rng):
            lead = (
                *matrix_args(x, fmt, dtype, index),
                codes,
                *((k,) if n_groups else ()),
            )
            extra = [()] if params is None else params(rng, x, codes, k, dtype)
            out.extend((*lead, *p) for p in extra)
        return out

    return example
