"""Proof that the hints reach LLVM: read the optimised IR and the assembly."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings

import llvmlite.binding as llb
import numba
import numpy as np
import pytest
from numba.core import errors

from scanpy_kernels.toolkit import (
    assume,
    interleave,
    kernel,
    lanes,
    likely,
    prefetch,
    unlikely,
    unroll,
    vectorize,
)

#: vector lanes (float32, float64) that LLVM's cost model picks per CPU: 256-bit on
#: AVX2 parts and on Intel AVX-512 parts (prefer-256-bit tuning), 512-bit on Zen 4/5
LANES = {
    "haswell": [8, 4],
    "znver3": [8, 4],
    "skylake-avx512": [8, 4],
    "icelake-server": [8, 4],
    "znver4": [16, 8],
    "znver5": [16, 8],
}
HOST_CPU = llb.get_host_cpu_name()


def kernel_ir(fn, sig: str, **opts) -> str:
    """Optimised IR of the kernel function itself (no CPython wrapper)."""
    k = kernel(parallel=False, cache=False, **opts)(fn)
    d = k.dispatcher(parallel=False)
    d.compile(sig)
    ir = d.inspect_llvm(d.signatures[-1])
    fns = re.findall(r"^define .*?^\}", ir, re.M | re.S)
    return "\n".join(
        f for f in fns if "@_ZN7cpython" not in f.split("(")[0] and "@cfunc." not in f.split("(")[0]
    )


def plain_ir(fn, sig: str) -> str:
    d = numba.njit(sig, cache=False)(fn)
    return d.inspect_llvm(d.signatures[0])


def sum32(x):
    s = np.float32(0.0)
    vectorize(8)
    for i in range(x.shape[0]):
        s += x[i]
    return s


def sum_lanes(x):
    s = x[0] - x[0]  # accumulator of x's own dtype
    vectorize(x)
    for i in range(x.shape[0]):
        s += x[i]
    return s


def test_vectorize_8_float32_reduction_without_fastmath():
    ir = kernel_ir(sum32, "float32(float32[::1])")
    assert "<8 x float>" in ir
    assert (
        "fast" not in re.findall(r"fadd ([a-z ]*)<8 x float>", ir)[0]
    )  # strict IEEE ops, reordered loop
    x = np.random.default_rng(0).random(10_001).astype(np.float32)
    k = kernel(parallel=False, cache=False)(sum32)
    assert k(x) == pytest.approx(x.astype(np.float64).sum(), rel=1e-5)


def test_plain_njit_leaves_same_source_scalar():
    ir = plain_ir(sum32, "float32(float32[::1])")
    assert "x float>" not in ir  # no vector type at all
    assert "llvm.loop.vectorize" not in ir  # the marker is inert under plain njit
    x = np.arange(100, dtype=np.float32)
    assert numba.njit(sum32)(x) == x.sum()


def host_lanes(dtype: str) -> int:
    if HOST_CPU not in LANES:
        pytest.skip(f"no expected lane count recorded for host CPU {HOST_CPU!r}")
    return LANES[HOST_CPU][0 if dtype == "float32" else 1]


@pytest.mark.parametrize(("dtype", "name"), [("float32", "float"), ("float64", "double")])
def test_vectorize_array_picks_lanes_per_dtype(dtype, name):
    """On the host CPU (the other targets: ``test_vectorize_array_on_other_targets``)."""
    n = host_lanes(dtype)
    ir = kernel_ir(sum_lanes, f"{dtype}({dtype}[::1])")
    assert f"<{n} x {name}>" in ir
    assert max(int(w) for w in re.findall(rf"<(\d+) x {name}>", ir)) == n


def test_lanes_is_a_compile_time_constant():
    def f(x):
        return lanes(x)

    n32, n64 = host_lanes("float32"), host_lanes("float64")
    assert kernel(parallel=False, cache=False)(f)(np.zeros(1, np.float32)) == n32
    assert kernel(parallel=False, cache=False)(f)(np.zeros(1, np.float64)) == n64
    ir = kernel_ir(f, "intp(float32[::1])")
    assert re.search(rf"ret i64 {n32}|store i64 {n32}", ir)


_AVX2 = "+avx2,+avx,+fma,+f16c,+bmi,+bmi2,+lzcnt,+popcnt,+sse4.2,+sse4.1,+ssse3,+sse3,+sse2,+sse,+cx16,+movbe"
_AVX512 = "+avx512f,+avx512bw,+avx512cd,+avx512dq,+avx512vl,+avx2,+avx,+fma,+f16c,+bmi,+bmi2,+lzcnt,+popcnt,+sse4.2,+sse4.1,+ssse3,+sse3,+sse2,+sse,+cx16,+movbe"


@pytest.mark.parametrize(
    ("cpu", "features"),
    [("znver3", _AVX2), ("znver4", _AVX512), ("skylake-avx512", _AVX512)],
)
def test_vectorize_array_on_other_targets(cpu, features):
    """Compile only (the host may not run that ISA) for a CPU named through numba's env."""
    expected = LANES[cpu]
    code = textwrap.dedent(
        """
        import json, re
        from scanpy_kernels.toolkit import kernel, vectorize
        def f(x):
            s = x[0] - x[0]
            vectorize(x)
            for i in range(x.shape[0]):
                s += x[i]
            return s
        d = kernel(parallel=False, cache=False)(f).dispatcher(parallel=False)
        out = []
        for t, name in (("float32", "float"), ("float64", "double")):
            d.compile(f"{t}({t}[::1])")
            ir = d.inspect_llvm(d.signatures[-1])
            out.append(max(int(n) for n in re.findall(rf"<(\\d+) x {name}>", ir)))
        print(json.dumps(out))
        """
    )
    env = {
        **os.environ,
        "NUMBA_CPU_NAME": cpu,
        "NUMBA_CPU_FEATURES": features,
        "NUMBA_CACHE_DIR": os.devnull,
    }
    res = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(res.stdout.strip().splitlines()[-1]) == expected


def gather(x, idx):
    s = 0.0
    unroll(4)
    for i in range(idx.shape[0]):
        s += x[idx[i]]
    return s


def gather_unhinted(x, idx):
    s = 0.0
    for i in range(idx.shape[0]):
        s += x[idx[i]]
    return s


def test_unroll_4_is_honoured():
    sig = "float64(float64[::1], int64[::1])"
    # strict float adds cannot be vectorized: each copy of the body has one fadd.
    # 4 in the unrolled loop + 1 in the remainder loop; LLVM's own choice is 8 + 1.
    assert kernel_ir(gather, sig).count("fadd") == 5
    assert kernel_ir(gather_unhinted, sig).count("fadd") == 9


def interleaved(x):
    s = 0.0
    vectorize(4)
    interleave(2)
    for i in range(x.shape[0]):
        s += x[i]
    return s


def test_vectorize_and_interleave_combine():
    ir = kernel_ir(interleaved, "float64(float64[::1])")
    # two interleaved <4 x double> accumulators in the vector body
    assert len(re.findall(r"fadd <4 x double>", ir)) >= 2


def gather_assumed(x, idx):
    s = 0.0
    for i in range(idx.shape[0]):
        j = idx[i]
        assume(j >= 0)
        s += x[j]
    return s


def test_assume_removes_negative_index_wraparound():
    sig = "float64(float64[::1], int64[::1])"
    # numba wraps negative indices: `j < 0 ? j + n : j` is a select per element
    assert kernel_ir(gather_unhinted, sig).count(" select ") > 0
    assert kernel_ir(gather_assumed, sig).count(" select ") == 0
    x, idx = np.arange(10.0), np.array([1, 3, 5])
    assert kernel(parallel=False, cache=False)(gather_assumed)(x, idx) == 9.0


def branchy_plain(x, flag):
    s = 0.0
    for i in range(x.shape[0]):
        if x[i] < 0:
            s -= x[i]
        elif flag:
            s += x[i]
    return s


def branchy(x, flag):
    s = 0.0
    for i in range(x.shape[0]):
        if unlikely(x[i] < 0):
            s -= x[i]
        elif likely(flag):
            s += x[i]
    return s


def test_likely_unlikely_become_branch_weights():
    sig = "float64(float64[::1], boolean)"
    d = kernel(parallel=False, cache=False)(branchy).dispatcher(parallel=False)
    d.compile(sig)
    # llvm.expect lowers to branch weights tagged "expected"
    expected = re.compile(r'!"branch_weights", !"expected"')
    n_hinted = len(expected.findall(d.inspect_llvm(d.signatures[0])))
    assert n_hinted >= 1
    assert not expected.findall(plain_ir(branchy_plain, sig))


def prange_body_hint(data, indptr):
    n = indptr.shape[0] - 1
    out = np.empty(n)
    for r in numba.prange(n):
        s = 0.0
        vectorize(data)
        for k in range(indptr[r], indptr[r + 1]):
            s += data[k]
        out[r] = s
    return out


def test_hint_inside_prange_body_reaches_gufunc():
    k = kernel(cache=False)(prange_body_hint)
    d = k.dispatcher(parallel=True)
    d.compile("float64[::1](float32[::1], int64[::1])")
    md = d.get_metadata(d.signatures[0])
    [(fn_name, hints)] = md["kernel_hints"]
    assert "__numba_parfor_gufunc" in fn_name
    assert hints["llvm.loop.vectorize.width"] == host_lanes("float32")
    assert "x double>" in d.inspect_llvm(d.signatures[0]) or "x float>" in d.inspect_llvm(
        d.signatures[0]
    )


def hint_without_loop(x):
    s = x[0]
    vectorize(4)
    return s


def hint_before_prange(x):
    out = np.empty_like(x)
    vectorize(4)
    for i in numba.prange(x.shape[0]):
        out[i] = x[i]
    return out


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (hint_without_loop, "must be followed directly by a for/while loop"),
        (hint_before_prange, "precedes a prange loop"),
    ],
)
def test_misplaced_hint_is_a_compile_error_naming_the_line(fn, message):
    line = fn.__code__.co_firstlineno + next(
        i
        for i, src in enumerate(__import__("inspect").getsource(fn).splitlines())
        if "vectorize(4)" in src
    )
    k = kernel(cache=False)(fn)
    with pytest.raises(errors.CompilerError, match=rf"loop hint at line {line} .*{message}"):
        k(np.ones(4))


def csr_row_sums_prefetched(data, indptr, ahead):
    n = indptr.shape[0] - 1
    out = np.empty(n)
    for r in range(n):
        prefetch(data, indptr[min(r + ahead, n)])  # may point one past the end
        s = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            s += data[k]
        out[r] = s
    return out


def test_prefetch_becomes_a_prefetch_instruction():
    sig = "float64[::1](float32[::1], int64[::1], int64)"
    assert "call void @llvm.prefetch" in kernel_ir(csr_row_sums_prefetched, sig)
    d = kernel(parallel=False, cache=False)(csr_row_sums_prefetched).dispatcher(
        parallel=False
    )
    d.compile(sig)
    assert re.search(r"\bprefetcht0\b", d.inspect_asm(d.signatures[0]))
    # a hint only: same result as without it, also where it points past the end
    data = np.arange(10, dtype=np.float32)
    indptr = np.array([0, 3, 3, 10], np.int64)
    for ahead in (1, 4):
        np.testing.assert_array_equal(d(data, indptr, ahead), [3.0, 0.0, 42.0])


@pytest.mark.parametrize("bad", ["vectorize(0)", "unroll(n)", "assume(1)", "prefetch(x, 0.5)", "prefetch(n, 0)"])
def test_bad_hint_arguments_are_typing_errors(bad):
    ns = {}
    exec(
        f"def f(x, n):\n    {bad}\n    s = 0.0\n    for i in range(n):\n        s += x[i]\n    return s",
        {"vectorize": vectorize, "unroll": unroll, "assume": assume, "prefetch": prefetch},
        ns,
    )
    # a TypingError, never a fallback to object mode (NumbaWarning: an error here)
    with warnings.catch_warnings():
        warnings.simplefilter("error", errors.NumbaWarning)
        with pytest.raises(errors.TypingError):
            kernel(parallel=False, cache=False)(ns["f"])(np.ones(3), 3)
