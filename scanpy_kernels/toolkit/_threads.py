"""How many threads a kernel call may use, and whether it may run in parallel at all.

Rules, in order:

1. Off the main thread, kernels run serially unless the caller asked for threads with
   :func:`thread_limit` *in that thread* and the threading layer is thread-safe.
   Dask (threaded scheduler and distributed workers) runs tasks off the main thread,
   so kernels never multiply dask's own parallelism (no oversubscription), and the
   ``workqueue`` layer, which aborts when two threads launch parallel regions at
   once, is never entered concurrently (as in fast-array-utils' ``njit``).
2. On the main thread the limit is the innermost :func:`thread_limit`, else the
   registered provider's (scanpy registers ``settings.n_jobs`` *when the user set it*),
   else numba's current thread count, ``numba.get_num_threads()`` (all of numba's
   threads unless the user called ``numba.set_num_threads``).  ``n <= 0`` means that
   count too (scanpy's ``n_jobs=-1``); no limit exceeds ``NUMBA_NUM_THREADS``.

At scanpy's default settings kernels therefore use numba's threads, as the numba code
they replace did (fast-array-utils' ``mean_var``, ``aggregate``'s kernels): a user who
changes nothing never gets fewer threads than before.

:func:`split_range` runs a *serial* kernel (``parallel=False``, ``nogil``) over
contiguous ranges in that many Python threads: for a long scan whose ranges are
independent (the count check) it is as fast as a ``prange`` and compiles in a quarter
of the time (numba builds no parfor and no gufunc).  A hand-off to the workers costs
~0.1-0.5 ms next to numba's OpenMP regions, so short scans on every call's path stay
``prange`` kernels (docs/kernel-guide.md, "Compile time").  The workers are not the
main thread, so every kernel they call runs serially (rule 1), and numba's threading
layer is never entered from two threads at once.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import pairwise
from typing import TYPE_CHECKING

import numba

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["plan_threads", "set_thread_limit_provider", "split_range", "thread_limit"]

_explicit: ContextVar[int | None] = ContextVar(
    "scanpy_kernels_thread_limit", default=None
)
_provider: Callable[[], int | None] | None = None
_THREADSAFE_LAYERS = {"tbb", "omp"}
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def set_thread_limit_provider(provider: Callable[[], int | None] | None) -> None:
    """Register the default limit for main-thread calls, e.g. ``lambda: settings.n_jobs``.

    The provider returns ``None`` for "no limit of its own": numba's thread count.
    """
    global _provider  # noqa: PLW0603
    _provider = provider


@contextmanager
def thread_limit(n: int | None) -> Iterator[None]:
    """Limit kernels called in this context (and this thread) to ``n`` threads."""
    token = _explicit.set(n)
    try:
        yield
    finally:
        _explicit.reset(token)


def _clamp(n: int | None) -> int:
    if n is None or n <= 0:
        return numba.get_num_threads()  # honours numba.set_num_threads
    return min(n, numba.config.NUMBA_NUM_THREADS)


def _layer_is_threadsafe() -> bool:
    layer = numba.config.THREADING_LAYER
    if layer in _THREADSAFE_LAYERS:
        return True
    if layer in {"default", "threadsafe", "safe"}:
        # only known after the first parallel launch; until then assume the worst
        try:
            return numba.threading_layer() in _THREADSAFE_LAYERS
        except ValueError:
            return False
    return False


def plan_threads() -> int:
    """Threads the next kernel call on this thread may use (1 means: run serially)."""
    explicit = _explicit.get()
    if threading.current_thread() is not threading.main_thread():
        if explicit is None or not _layer_is_threadsafe():
            return 1
        return _clamp(explicit)
    if explicit is not None:
        return _clamp(explicit)
    return _clamp(_provider() if _provider is not None else None)


def _executor(n: int) -> ThreadPoolExecutor:
    """Return the shared worker threads, at least ``n`` (created on first use)."""
    global _pool  # noqa: PLW0603
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            if _pool is not None:  # too few workers: let the old ones exit when idle
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(n, thread_name_prefix="scanpy_kernels")
        return _pool


def split_range[R](
    fn: Callable[[int, int], R], stop: int, *, min_size: int = 1 << 18
) -> list[R]:
    """Return ``[fn(lo, hi), ...]`` over ``[0, stop)`` cut into contiguous ranges.

    One range per thread :func:`plan_threads` allows (none shorter than
    ``min_size``, so small inputs stay on this thread), run in that many Python
    threads; results in range order.  ``fn`` must release the GIL (a serial
    ``nogil`` kernel) to run in parallel.

    >>> split_range(lambda lo, hi: (lo, hi), 10, min_size=1)[0][0]
    0
    """
    n = max(1, min(plan_threads(), stop // max(min_size, 1)))
    if n == 1:
        return [fn(0, stop)]
    bounds = [stop * k // n for k in range(n + 1)]
    futures = [_executor(n).submit(fn, lo, hi) for lo, hi in pairwise(bounds)]
    return [f.result() for f in futures]
