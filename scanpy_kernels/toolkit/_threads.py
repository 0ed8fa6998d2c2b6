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
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

import numba

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["plan_threads", "set_thread_limit_provider", "thread_limit"]

_explicit: ContextVar[int | None] = ContextVar(
    "scanpy_kernels_thread_limit", default=None
)
_provider: Callable[[], int | None] | None = None
_THREADSAFE_LAYERS = {"tbb", "omp"}


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
