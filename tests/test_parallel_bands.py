"""The work inside the codec's deterministic inference is shared between threads by bands fixed
by the shapes alone (segpic.ops): linear layers by rows, convolutions by output rows (small
maps too), the RAT's kernel generator by channel blocks, window attention by window chunks.
Each band runs whole on one thread, so the numbers are the single-threaded ones at any thread
count, bit for bit; these tests check that, and that the bands do run on several threads."""
import threading

import pytest
import torch
import torch.nn.functional as F

from segpic.layers import rat as rat_module
from segpic.layers import window_attention
from segpic.layers.rat import RegionAdaptiveTransform
from segpic.layers.window_attention import WindowAttention
from segpic.ops import gemm_conv, threads
from segpic.ops.deterministic import deterministic_inference
from segpic.ops.gemm_conv import MIN_BAND_COLUMNS, MIN_BANDS, band_bounds


@pytest.mark.parametrize("rows, width", [(1, 1), (3, 1), (100, 1), (1536, 1), (16384, 1), (4, 6), (8, 14),
                                         (32, 50), (128, 194), (512, 770), (33, 50), (336, 514), (7, 5000)])
def test_band_bounds_cover_the_rows_in_balanced_bands_of_usable_width(rows, width):
    bounds = band_bounds(rows, width)
    sizes = [b - a for a, b in zip(bounds, bounds[1:])]
    assert bounds[0] == 0 and bounds[-1] == rows and min(sizes) >= 1
    assert max(sizes) - min(sizes) <= 1
    # one band, or bands wide enough that MKL computes each column as in one GEMM
    assert len(sizes) == 1 or min(sizes) * width >= MIN_BAND_COLUMNS // 2
    # a map that is big enough is shared by at least MIN_BANDS threads
    if rows >= MIN_BANDS and rows * width >= MIN_BANDS * MIN_BAND_COLUMNS:
        assert len(sizes) >= MIN_BANDS
    # several bands come in a multiple of MIN_BANDS (equal shares for 2 or 4 threads)
    if len(sizes) > 1 and rows >= 2 * MIN_BANDS:
        assert len(sizes) % MIN_BANDS == 0


@pytest.fixture
def thread_count():
    """Set torch's thread count for a test (the suite runs with one); restored after."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _band_threads(monkeypatch, module) -> set:
    """Names of the threads that ran bands started from ``module`` (its run_bands wrapped)."""
    names = set()

    def recording(fn, bands):
        def wrapped(band):
            names.add(threading.current_thread().name)
            fn(band)

        threads.run_bands(wrapped, bands)

    monkeypatch.setattr(module, "run_bands", recording)
    return names


def test_linear_layers_run_in_bands_with_the_single_threaded_bits(thread_count, monkeypatch):
    torch.manual_seed(0)
    layer = torch.nn.Linear(192, 576)
    x = torch.randn(4, 1000, 192)
    with threads.single_threaded_mkl(), torch.no_grad():
        expected = layer(x)
    names = _band_threads(monkeypatch, gemm_conv)
    for n in (1, 2, 4):
        thread_count(n)
        with deterministic_inference():
            assert torch.equal(layer(x), expected), f"{n} threads"
    assert len(names) >= 2, "the linear layer's bands did not run on the pool"


def test_small_map_convolutions_are_shared_between_threads(thread_count, monkeypatch):
    """A 1/16-scale map of kodim23 (32 x 48) used to be one band, on one thread."""
    torch.manual_seed(0)
    x, w = torch.randn(1, 320, 32, 48), torch.randn(224, 320, 3, 3)
    thread_count(1)
    with deterministic_inference():
        expected = F.conv2d(x, w, padding=1)
    names = _band_threads(monkeypatch, gemm_conv)
    for n in (2, 4):
        thread_count(n)
        with deterministic_inference():
            assert torch.equal(F.conv2d(x, w, padding=1), expected), f"{n} threads"
    assert len(names) >= 2


def test_rat_blocks_and_attention_chunks_give_the_same_bits_at_any_thread_count(thread_count, monkeypatch):
    torch.manual_seed(0)
    rat = RegionAdaptiveTransform(64, 64).eval()
    f, p = torch.randn(1, 64, 24, 20), torch.randn(1, 64, 24, 20)
    attn = WindowAttention(64, 4, 8).eval()
    windows = torch.randn(30, 16, 64)
    monkeypatch.setattr(window_attention, "WINDOW_CHUNK", 4)  # 8 chunks
    results = {}
    rat_names, attn_names = _band_threads(monkeypatch, rat_module), _band_threads(monkeypatch, window_attention)
    for n in (1, 2, 4, 16):
        thread_count(n)
        with deterministic_inference():
            results[n] = (rat(f, p), attn(windows))
    for n in (2, 4, 16):
        assert torch.equal(results[n][0], results[1][0]), f"RAT, {n} threads"
        assert torch.equal(results[n][1], results[1][1]), f"attention, {n} threads"
    assert len(rat_names) >= 2 and len(attn_names) >= 2


def test_bands_started_inside_a_band_run_in_place(thread_count):
    """A band that itself runs bands (attention chunks -> banded linear layers) must not wait
    on the pool it occupies."""
    thread_count(2)
    seen = []

    def outer(i):
        threads.run_bands(lambda j: seen.append((i, j, threading.current_thread().name)), range(3))

    threads.run_bands(outer, range(4))
    assert sorted((i, j) for i, j, _ in seen) == [(i, j) for i in range(4) for j in range(3)]
    for i in range(4):  # the inner bands of one outer band ran on its thread
        assert len({name for k, _, name in seen if k == i}) == 1


def test_band_gemms_stay_single_threaded_after_aten_runs_in_the_band(thread_count):
    """ATen's first parallel operation in a thread sets MKL's thread-local count to torch's
    thread count; a pool thread must still run its later GEMMs with one MKL thread."""
    thread_count(4)
    counts = []

    def band(_):
        torch.randn(4_000_000).mul_(2).add_(1)  # large enough for ATen's intra-op parallelism
        counts.append(threads.mkl_local_threads(1))  # returns the count in effect before

    threads.run_bands(band, range(8))
    assert counts == [1] * 8


def test_tasks_run_side_by_side_each_whole_on_one_thread(thread_count):
    """run_tasks: results in order, the tasks on two threads at once, each task's own bands in
    its thread."""
    thread_count(2)
    barrier = threading.Barrier(2, timeout=10)  # both tasks must be running at the same time
    inner = {}

    def task(name):
        def run():
            barrier.wait()
            threads.run_bands(lambda j: inner.setdefault(name, set()).add(threading.current_thread().name), range(4))
            return name, threading.current_thread().name
        return run

    with torch.no_grad():  # inference: side by side
        results = threads.run_tasks(task("mean"), task("scale"))
    assert [name for name, _ in results] == ["mean", "scale"]
    assert results[0][1] != results[1][1]
    for name, thread in results:
        assert inner[name] == {thread}


def test_bands_run_under_the_callers_torch_function_modes(thread_count):
    """Modes are per thread: a convolution in a band on a pool thread must take the codec's
    banded path as it would in the caller, and give the caller's bits."""
    thread_count(2)
    torch.manual_seed(0)
    x, w = torch.randn(1, 8, 20, 20), torch.randn(8, 8, 3, 3)
    routed = []
    real = gemm_conv.conv2d

    def recording(*args, **kwargs):
        routed.append(threading.current_thread().name)
        return real(*args, **kwargs)

    with deterministic_inference():
        expected = F.conv2d(x, w, padding=1)
        gemm_conv.conv2d = recording
        try:
            outs = threads.run_tasks(lambda: F.conv2d(x, w, padding=1), lambda: F.conv2d(x, w, padding=1))
        finally:
            gemm_conv.conv2d = real
    assert len(routed) == 2 and all(name.startswith("segpic-band") for name in routed)
    for out in outs:
        assert torch.equal(out, expected)


def test_pool_threads_run_aten_single_threaded(thread_count):
    """A task's element-wise work must not fork an OpenMP team per pool thread."""
    thread_count(2)
    with torch.no_grad():
        assert threads.run_tasks(torch.get_num_threads, torch.get_num_threads) == [1, 1]
    assert torch.get_num_threads() == 2


def test_tasks_with_gradients_run_in_order_in_the_callers_thread(thread_count):
    """Training keeps ATen's own threads: with gradients the tasks are not sent to the pool."""
    thread_count(2)
    here = threading.current_thread().name
    assert threads.run_tasks(lambda: threading.current_thread().name, torch.get_num_threads) == [here, 2]
