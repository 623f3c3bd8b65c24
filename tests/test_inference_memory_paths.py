"""The inference-only paths that bound memory (bands of rows, chunks of windows, banded GEMM
convolutions) compute what the plain formulations compute: the same numbers up to float
summation order, on shapes where every band boundary and halo is exercised."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import segpic.models.segpic as segpic_module
from segpic.layers import window_attention
from segpic.layers.sal import DownSAL, UpSAL
from segpic.layers.window_attention import WindowAttention, shifted_window_mask
from segpic.models import SegPIC
from segpic.ops import gemm_conv, rowwise
from segpic.ops.deterministic import deterministic_inference


@pytest.mark.parametrize("cin, cout, size, k, stride, pad", [
    (5, 7, (13, 17), 3, 1, 1), (4, 6, (16, 24), 5, 2, 2), (3, 8, (9, 11), 5, 2, 2),
    (4, 4, (7, 9), 3, 2, 1), (3, 5, (8, 8), 3, 1, 0),
])
def test_gemm_conv2d_equals_conv2d(cin, cout, size, k, stride, pad, monkeypatch):
    monkeypatch.setattr(gemm_conv, "BAND_COLUMNS", 40)  # several bands even on these maps
    g = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(2, cin, *size, generator=g), torch.randn(cout, cin, k, k, generator=g), torch.randn(cout, generator=g)
    for bias in (b, None):
        torch.testing.assert_close(gemm_conv.conv2d(x, w, bias, stride, pad), F.conv2d(x, w, bias, stride, pad),
                                   rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size, k, stride, pad, out_pad", [
    ((6, 9), 5, 2, 2, 1), ((5, 5), 3, 2, 1, 1), ((4, 6), 5, 2, 2, 0), ((4, 6), 3, 1, 1, 0), ((5, 6), 4, 2, 1, 0),
])
def test_gemm_conv_transpose2d_equals_conv_transpose2d(size, k, stride, pad, out_pad, monkeypatch):
    monkeypatch.setattr(gemm_conv, "BAND_COLUMNS", 40)
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(2, 5, *size, generator=g), torch.randn(5, 7, k, k, generator=g), torch.randn(7, generator=g)
    expected = F.conv_transpose2d(x, w, b, stride, pad, out_pad)
    got = gemm_conv.conv_transpose2d(x, w, b, stride, pad, out_pad)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_deterministic_inference_routes_kxk_convolutions(monkeypatch):
    """k x k, 1x1 and transposed convolutions go to the banded GEMMs; grouped, dilated ones and
    transposed ones with a kernel smaller than their stride don't."""
    calls = []
    monkeypatch.setattr(gemm_conv, "conv2d", lambda *a, **k: calls.append("conv2d") or F.conv2d(*a, **k))
    monkeypatch.setattr(gemm_conv, "conv_transpose2d", lambda *a, **k: calls.append("deconv") or F.conv_transpose2d(*a, **k))
    x = torch.randn(1, 4, 16, 16)
    mkldnn, tf32 = torch.backends.mkldnn.enabled, torch.backends.cudnn.allow_tf32
    with deterministic_inference():
        nn.Conv2d(4, 4, 3, padding=1)(x)
        nn.Conv2d(4, 4, 5, stride=2, padding=2)(x)
        nn.Conv2d(4, 4, 1)(x)
        nn.Conv2d(4, 8, 3, padding=1, groups=4)(x)
        nn.ConvTranspose2d(4, 4, 5, 2, 2, 1)(x)
        nn.Conv2d(4, 4, 3, padding=2, dilation=2)(x)
        nn.ConvTranspose2d(4, 4, 2, stride=3)(x)
        assert not torch.backends.mkldnn.enabled
        assert not torch.backends.cudnn.allow_tf32 and torch.backends.cudnn.deterministic
    assert calls == ["conv2d", "conv2d", "conv2d", "deconv"]
    assert torch.backends.mkldnn.enabled == mkldnn and torch.backends.cudnn.allow_tf32 == tf32


def test_down_and_up_blocks_by_rows_equal_plain(monkeypatch):
    monkeypatch.setattr(rowwise, "BAND_PIXELS", 50)  # bands of a few rows
    torch.manual_seed(0)
    for block, x in ((DownSAL(3, 8), torch.rand(1, 3, 20, 24)), (UpSAL(8, 6), torch.rand(1, 8, 10, 12))):
        expected = block(x)  # grad enabled: the plain formulation
        with torch.no_grad():
            torch.testing.assert_close(block(x), expected, rtol=1e-5, atol=1e-6)


def test_window_attention_in_chunks_equals_all_windows(monkeypatch):
    torch.manual_seed(0)
    attn = WindowAttention(16, 4, 2)
    mask = shifted_window_mask(16, 24, 4, 2)  # 24 windows
    x = torch.randn(2 * 24, 16, 16)  # two images
    expected = attn(x, mask)
    monkeypatch.setattr(window_attention, "WINDOW_CHUNK", 5)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, mask), expected, rtol=1e-5, atol=1e-6)


def test_segpic_banded_outer_blocks_equal_whole_image(monkeypatch):
    """Bands of 64 rows with their halos on a 192-row image: same reconstruction, same
    latents, hence the same streams, as without bands."""
    torch.manual_seed(0)
    model = SegPIC(N=16, M=32).eval()
    model.update(force=True)
    x = torch.rand(1, 3, 192, 128)
    with torch.no_grad():
        whole = model(x)["x_hat"]
        monkeypatch.setattr(segpic_module, "BAND_PIXELS", 64 * 128)
        assert model._band_rows(192, 128) == 64
        banded = model(x)["x_hat"]
        # bands must not change what is coded
        monkeypatch.setattr(segpic_module, "BAND_PIXELS", 1 << 30)
        plain = model.compress(x)
        monkeypatch.setattr(segpic_module, "BAND_PIXELS", 64 * 128)
        assert model.compress(x)["strings"] == plain["strings"]
    torch.testing.assert_close(banded, whole, rtol=1e-5, atol=1e-5)


def test_deterministic_inference_runs_mkl_single_threaded_and_restores_it():
    from segpic.ops.threads import mkl_local_threads

    with deterministic_inference():
        with deterministic_inference():
            pass
        assert mkl_local_threads(1) == 1   # set by the context, still set after an inner one ends
    assert mkl_local_threads(0) == 0       # back to "use the global count" on exit

