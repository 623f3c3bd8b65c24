"""The speed-analysis scripts of bench/perf run and count what they claim (their timings are
results, measured by running them, never asserted here)."""
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.perf import conv_engines, module_time


def test_module_time_runs_on_a_small_image(capsys):
    assert module_time.main(["--size", "64x64", "--runs", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "encode  total" in out and "decode  total" in out


def test_conv_engine_macs_agree_with_torchs_flop_counter():
    x = torch.randn(1, 6, 10, 12)
    cases = [(("conv", (1, 6, 10, 12), (5, 6, 3, 3), 1, 1, 0), lambda w: F.conv2d(x, w, padding=1)),
             (("conv", (1, 6, 10, 12), (5, 6, 5, 5), 2, 2, 0), lambda w: F.conv2d(x, w, stride=2, padding=2)),
             (("transpose", (1, 6, 10, 12), (6, 5, 5, 5), 2, 2, 1),
              lambda w: F.conv_transpose2d(x, w, stride=2, padding=2, output_padding=1))]
    for key, call in cases:
        counter = FlopCounterMode(display=False)
        with counter:
            call(torch.randn(key[2]))
        assert 2 * conv_engines.macs(key) == counter.get_total_flops(), key


def test_onednn_bands_are_a_convolution_and_thread_count_invariant():
    before = torch.get_num_threads()
    torch.manual_seed(0)
    x, w, b = torch.randn(1, 16, 40, 36), torch.randn(24, 16, 3, 3), torch.randn(24)
    try:
        with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=True):
            torch.set_num_threads(1)
            one = conv_engines.onednn_bands(x, w, b, 2, 1)
            torch.set_num_threads(2)
            two = conv_engines.onednn_bands(x, w, b, 2, 1)
    finally:
        torch.set_num_threads(before)
    torch.testing.assert_close(one, F.conv2d(x, w, b, stride=2, padding=1), rtol=1e-5, atol=1e-5)
    assert torch.equal(one, two)
