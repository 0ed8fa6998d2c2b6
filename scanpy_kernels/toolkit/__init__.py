"""The kernel toolkit: write C-style numba kernels whose hints really reach LLVM.

Public names (stable; contributors write kernels with them):

- :func:`kernel`: the decorator for every kernel (njit options, declared signatures,
  salted cache, thread limits, serial fallback off the main thread, keyword calls).
- :func:`signatures`: a signature template over the data (``{d}``) and index
  (``{i}``) dtypes; :func:`matrix_signatures`: the sparse and dense ones of a kernel
  in the one calling convention; :func:`matrix_args`, :func:`matrix_examples`: verifier inputs in
  the one calling convention (``kernel(*m.args, codes, n_groups, ...)``).
- :func:`helper`: a function kernels call, inlined so its hints work too;
  :func:`routine`: one compiled once on its own (set-up code, searches).
- :func:`assume`, :func:`likely`, :func:`unlikely`: ``llvm.assume`` / ``llvm.expect``;
  :func:`prefetch`: ``llvm.prefetch`` of an array element.
- :func:`vectorize`, :func:`unroll`, :func:`interleave`: loop metadata on the next
  sequential loop (inside prange bodies too); :func:`lanes`: vector lanes of an array's
  dtype on the target CPU, a compile-time constant.
- :func:`thread_partials`, :func:`thread_scratch`, :func:`combine_partials`: padded
  per-thread buffers indexed by ``numba.get_thread_id()`` and their combine;
  :func:`zeros1`, :func:`zeros2`, :func:`zeros3`: zeroed arrays without a parfor.
- :func:`thread_limit`, :func:`set_thread_limit_provider`: how many threads kernels use;
  :func:`split_range`: a serial kernel over ranges in that many Python threads.
"""

from __future__ import annotations

from ._cache import toolkit_fingerprint
from ._decorator import (
    DATA,
    INDEX,
    Kernel,
    helper,
    kernel,
    matrix_args,
    matrix_examples,
    matrix_signatures,
    routine,
    signatures,
)
from ._hints import (
    assume,
    interleave,
    lanes,
    likely,
    prefetch,
    unlikely,
    unroll,
    vectorize,
)
from ._scratch import (
    combine_partials,
    num_threads,
    thread_partials,
    thread_scratch,
    zeros1,
    zeros2,
    zeros3,
)
from ._threads import (
    plan_threads,
    set_thread_limit_provider,
    split_range,
    thread_limit,
)

__all__ = [
    "DATA",
    "INDEX",
    "Kernel",
    "assume",
    "combine_partials",
    "helper",
    "interleave",
    "kernel",
    "lanes",
    "likely",
    "matrix_args",
    "matrix_examples",
    "matrix_signatures",
    "num_threads",
    "plan_threads",
    "prefetch",
    "routine",
    "set_thread_limit_provider",
    "signatures",
    "split_range",
    "thread_limit",
    "thread_partials",
    "thread_scratch",
    "toolkit_fingerprint",
    "unlikely",
    "unroll",
    "vectorize",
    "zeros1",
    "zeros2",
    "zeros3",
]
