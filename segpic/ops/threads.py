"""Parallel inference whose sums do not depend on the thread count.

A GEMM's result depends on the thread count when one output's reduction, or the edge
handling of its column block, changes with the split of the work. On Intel CPUs MKL's strict
CNR mode (``MKL_CBWR=...,STRICT``) rules this out; on AMD CPUs MKL ignores STRICT (it offers
its fixed branches to Intel CPUs only), and measured on an AMD EPYC with torch 2.14.1's MKL
2024.2, ``C.addmm_(A, B)`` with 36 or 100 columns gives other bits with 3 or more threads
than with 1, whatever the inner dimension (and a SegPIC, STF or WACNN stream of a 64 x 64
image decoded to other pixels with 4 threads than with 1).

So inside the codec's deterministic inference every MKL call is single-threaded (MKL's
thread-local count, :func:`mkl_local_threads`), and the parallelism comes from outside:
:func:`run_bands` runs independent bands of output rows, fixed by the shapes alone, on a
pool of ``torch.get_num_threads()`` threads, each band computed whole by one thread. The
result is then the single-threaded result whatever the pool's size. :func:`run_tasks` does
the same for independent computations of another kind (the mean and scale networks of one
latent slice): each whole on one thread, its own bands run in that thread.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable

import torch
from torch.overrides import _get_current_function_mode_stack

from segpic.errors import CodecError

__all__ = ["mkl_local_threads", "single_threaded_mkl", "single_threaded_aten", "run_bands", "run_tasks",
           "check_mkl_cnr", "PortabilityError"]


class PortabilityError(CodecError):
    """The process cannot give portable, thread-count-invariant arithmetic (one line)."""


def _torch_library_function(library: str, name: str, restype):
    """``restype name(int)`` from a library in torch's lib folder; None without it."""
    try:
        fn = getattr(ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", library)), name)
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], restype
    return fn


def _mkl_function(name: str):
    """``int name(int)`` from the MKL that torch links statically; None without it."""
    if not torch.backends.mkl.is_available():
        return None
    return _torch_library_function("libtorch_cpu.so", name, ctypes.c_int)


# mkl_set_num_threads_local through its C entry (the lower-case names are the Fortran ones,
# which take a pointer); mkl_cbwr_get through the service function it is (the only name exported)
_SET_LOCAL = _mkl_function("MKL_Set_Num_Threads_Local")
_CBWR_GET = _mkl_function("mkl_serv_cbwr_get")
# the OpenMP runtime torch ships (ATen's intra-op threads); per calling thread (nthreads-var)
_OMP_SET = _torch_library_function("libgomp.so.1", "omp_set_num_threads", None)
_CBWR_BRANCH, _CBWR_AUTO = 1, 2  # MKL_CBWR_BRANCH, MKL_CBWR_AUTO of mkl_types.h


def check_mkl_cnr() -> None:
    """Raise :class:`PortabilityError` unless MKL runs its conditional-numerical-reproducibility
    AUTO branch (``MKL_CBWR=AUTO...``), which MKL fixes at its first call: a process whose first
    GEMM ran before ``segpic`` was imported, or with another ``MKL_CBWR``, computes otherwise."""
    branch = _CBWR_GET(_CBWR_BRANCH) if _CBWR_GET is not None else None
    if branch != _CBWR_AUTO:
        raise PortabilityError(
            f"exact coding needs MKL's reproducible AUTO branch (MKL_CBWR=AUTO,STRICT), this process has "
            f"{'no MKL' if branch is None else f'branch {branch}'}: import segpic before the first torch "
            "operation and leave MKL_CBWR unset")


def mkl_local_threads(n: int) -> int:
    """Set MKL's thread count for the calling thread (0: back to the global count); returns
    what MKL reports as the previous value. Raises :class:`PortabilityError` where torch has
    no MKL whose count can be set (its GEMMs would then split work by the thread count)."""
    if _SET_LOCAL is None:
        raise PortabilityError(
            "exact inference needs torch's MKL (mkl_set_num_threads_local was not found in "
            "libtorch_cpu); this torch build is not supported for coding")
    return int(_SET_LOCAL(n))


_depth = threading.local()


@contextlib.contextmanager
def single_threaded_mkl():
    """MKL single-threaded in the calling thread for the duration; nests. On exit from the
    outermost level MKL goes back to the global count (MKL cannot tell an unset thread-local
    count from one set to the global value, so there is nothing else to restore)."""
    depth = getattr(_depth, "n", 0)
    if depth == 0:
        torch.get_num_threads()  # ATen's lazy per-thread init would reset MKL's count later (see below)
        mkl_local_threads(1)
    _depth.n = depth + 1
    try:
        yield
    finally:
        _depth.n = depth
        if depth == 0:
            mkl_local_threads(0)


@contextlib.contextmanager
def single_threaded_aten():
    """ATen's OpenMP work single-threaded in the calling thread for the duration (oneDNN's
    too: it reads the same per-thread count); pool threads are always so. No-op where torch
    has no OpenMP runtime this can reach."""
    before = torch.get_num_threads()
    if _OMP_SET is not None:
        _OMP_SET(1)
    try:
        yield
    finally:
        if _OMP_SET is not None:
            _OMP_SET(before)


_pool: ThreadPoolExecutor | None = None
_in_band = threading.local()  # .active: this thread is running a band
_pool_size = 0
_pool_lock = threading.Lock()


def _single_threaded_pool_thread() -> None:
    """Pool-thread initializer: MKL and ATen single-threaded in this thread.

    ATen initializes a thread's intra-op settings lazily, at its first parallel operation, and
    that sets MKL's thread-local count to torch's thread count (at::init_num_threads):
    measured, a band whose first ATen operation ran before its GEMM then computed that GEMM
    with 8 threads, and other bits, in an 8-thread pool. So the lazy initialization is done
    here first (torch.get_num_threads runs it), then MKL is set. ATen's element-wise work
    (GELU between a task's convolutions) is set to one OpenMP thread too: each pool thread
    otherwise forks an OpenMP team of its own at its first parallel operation, and two tasks
    side by side then run four threads on two cores."""
    torch.get_num_threads()
    mkl_local_threads(1)
    if _OMP_SET is not None:
        _OMP_SET(1)


def _executor(size: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size != size:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool = ThreadPoolExecutor(size, thread_name_prefix="segpic-band", initializer=_single_threaded_pool_thread)
            _pool_size = size
        return _pool


def run_bands(fn: Callable[[object], None], bands: Iterable[object]) -> None:
    """Call ``fn(band)`` for every band, in parallel on ``torch.get_num_threads()`` threads.

    ``fn`` must write disjoint outputs and return nothing. Each call runs whole on one thread
    with single-threaded MKL, in the caller's grad and inference modes, so its result does not
    depend on the pool's size. With one thread, or one band, it runs in the caller's thread;
    so do bands that a band itself runs (a pool thread waiting on the pool could deadlock it).
    """
    bands = list(bands)
    size = torch.get_num_threads()
    if size <= 1 or len(bands) <= 1 or getattr(_in_band, "active", False):
        for band in bands:  # one thread, one band, or bands inside a band: here, in order
            fn(band)
        return
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()
    # torch-function modes are per thread: a band runs under the caller's (the codec's banded
    # convolutions, segpic.ops.deterministic), or its convolutions would take ATen's paths
    modes = _get_current_function_mode_stack()

    def call(band):
        _in_band.active = True
        try:
            with contextlib.ExitStack() as stack:
                stack.enter_context(torch.inference_mode(inference))
                stack.enter_context(torch.set_grad_enabled(grad))
                for mode in modes:
                    stack.enter_context(mode)
                fn(band)
        finally:
            _in_band.active = False

    for future in [_executor(size).submit(call, band) for band in bands]:
        future.result()


def run_tasks(*tasks: Callable[[], object]) -> list:
    """``[task() for task in tasks]``. At inference (no gradients) the tasks run in parallel on
    the pool, as bands of :func:`run_bands`: each whole on one thread, the bands it starts run
    in that thread, in order, so every result is the one-thread result. With gradients
    (training) they run in order in the caller's thread, which keeps ATen's own threads.

    Worth it where the tasks are independent and too small to split well into bands: measured
    in one process, alternating, on 2 threads, ChannelAR on a 320 x 32 x 48 latent with its
    mean and scale networks as tasks encoded in 4.82 s against 5.51 s one after the other,
    and decoded in 6.40 s against 7.22 s (medians of 5, AMD EPYC)."""
    if torch.is_grad_enabled():
        return [task() for task in tasks]
    results: list = [None] * len(tasks)

    def call(i: int) -> None:
        results[i] = tasks[i]()

    run_bands(call, range(len(tasks)))
    return results
