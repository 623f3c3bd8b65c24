"""Building blocks: window attention helpers, WAM shape rules, SAL, DPSConv, prototypes, padding,
the entropy bottleneck's likelihood."""
import copy

import pytest
import torch
import torch.nn.functional as F

from compressai.entropy_models import EntropyBottleneck as StockBottleneck

from segpic.entropy.bottleneck import EntropyBottleneck
from segpic.entropy.prototypes import MASK_EPS, grid_expand, grid_pool, mask_expand, mask_pool, subsample_labels
from segpic.layers import (WAM, ScaleAffine, WindowAttention, dps_conv, shifted_window_mask, window_partition,
                           window_reverse)
from segpic.models.base import crop, pad_to_multiple


def test_window_partition_roundtrip_and_order():
    x = torch.arange(2 * 8 * 12 * 3, dtype=torch.float32).reshape(2, 8, 12, 3)
    w = window_partition(x, 4)
    assert w.shape == (2 * 2 * 3, 4, 4, 3)
    assert torch.equal(w[1], x[0, 0:4, 4:8])  # windows are row-major within an image
    assert torch.equal(window_reverse(w, 4, 8, 12), x)


def test_shifted_window_mask_regions():
    mask = shifted_window_mask(8, 8, window_size=4, shift_size=2)
    assert mask.shape == (4, 16, 16)
    assert torch.all(mask[0] == 0)  # the top-left window holds one region only
    last = mask[3]  # bottom-right window: 4 regions of 2x2 tokens after the roll
    assert set(last.unique().tolist()) == {-100.0, 0.0}
    assert torch.all(last.diagonal() == 0) and int((last == 0).sum()) == 4 * 4 * 4


def test_window_attention_bias_index_and_mask_effect():
    torch.manual_seed(0)
    attn = WindowAttention(16, window_size=4, num_heads=2)
    idx = attn.relative_position_index
    assert idx.shape == (16, 16) and idx.min() == 0 and idx.max() == 48
    assert torch.all(idx.diagonal() == 24)  # zero offset is the centre of the 7x7 table
    x = torch.randn(4, 16, 16)
    assert attn(x).shape == x.shape
    # a token masked off from all others attends to itself only
    mask = torch.full((2, 16, 16), -1e9)
    mask[:, torch.arange(16), torch.arange(16)] = 0
    v = attn.qkv(x)[..., 32:]
    assert torch.allclose(attn(x, mask), attn.proj(v), atol=1e-5)


def test_wam_requires_window_multiples():
    wam = WAM(16, num_heads=8, window_size=4, shift_size=2)
    assert wam(torch.randn(1, 16, 8, 12)).shape == (1, 16, 8, 12)
    with pytest.raises(ValueError, match="not a multiple of the window size 4"):
        wam(torch.randn(1, 16, 8, 10))


def test_scale_affine_is_x_times_one_plus_s_plus_b():
    torch.manual_seed(0)
    sal = ScaleAffine(4)
    x = torch.randn(2, 4, 3, 3)
    s, b = sal[2](sal[1](sal[0](x))).chunk(2, dim=1)
    out = sal(x)  # autograd path
    assert torch.allclose(out, x * (1 + s) + b)
    with torch.no_grad():  # the in-place inference path gives the same bits
        assert torch.equal(sal(x), out.detach())


def test_dps_conv_matches_unfold_einsum():
    """The tap-sum DPSConv equals the reference's Unfold + einsum formulation."""
    torch.manual_seed(0)
    B, C, h, w = 2, 3, 5, 7
    x = torch.randn(B, C, h, w)
    k = torch.randn(B, C, 9, h, w)
    cols = F.unfold(x, kernel_size=3, padding=1).view(B, C, 9, h, w)
    ref = torch.einsum("bckhw,bckhw->bchw", cols, k)
    assert torch.allclose(dps_conv(x, k), ref, atol=1e-6)


def test_mask_pooling_and_expansion():
    x = torch.arange(2 * 2 * 2 * 4, dtype=torch.float32).reshape(2, 2, 2, 4)
    labels = torch.tensor([[[0, 0, 1, 1], [0, 0, 1, 3]], [[0, 0, 0, 0], [0, 0, 0, 0]]])
    p = mask_pool(x, labels)
    assert p.shape == (4 + 1, 2, 1, 1)  # labels 0..3 of item 0 (2 is empty), 0 of item 1
    mean0 = x[0, :, labels[0] == 0].sum(1) / (4 + MASK_EPS)
    assert torch.allclose(p[0, :, 0, 0], mean0)
    assert torch.all(p[2] == 0)  # an empty label gets the zero prototype
    assert torch.allclose(p[4, :, 0, 0], x[1].reshape(2, -1).sum(1) / (8 + MASK_EPS))
    P = mask_expand(p, labels)
    assert P.shape == x.shape
    assert torch.equal(P[0, :, 1, 3], p[3, :, 0, 0]) and torch.equal(P[1, :, 1, 2], p[4, :, 0, 0])


def test_subsample_is_top_left_nearest():
    labels = torch.randint(0, 5, (1, 32, 48))
    sub = F.interpolate(labels[:, None].float(), scale_factor=0.25, mode="nearest")[:, 0].long()
    assert torch.equal(subsample_labels(labels, 4), sub)


def test_grid_pool_expand():
    x = torch.randn(1, 3, 8, 12)
    g = grid_pool(x, 4)
    assert g.shape == (1, 3, 4, 4) and torch.allclose(g[0, :, 0, 0], x[0, :, :2, :3].mean((1, 2)))
    assert torch.equal(grid_expand(g, (8, 12))[0, :, 1, 2], g[0, :, 0, 0])


def test_pad_to_multiple_is_centred_and_crop_inverts():
    x = torch.rand(1, 3, 100, 130)
    xp, padding = pad_to_multiple(x, 64)
    assert xp.shape[-2:] == (128, 192) and padding == (31, 31, 14, 14)
    assert torch.equal(crop(xp, padding), x)
    xp2, padding2 = pad_to_multiple(torch.rand(1, 3, 128, 64), 64)
    assert padding2 == (0, 0, 0, 0) and xp2.shape[-2:] == (128, 64)


def test_bottleneck_stable_likelihood():
    """Same probabilities as compressai 1.2.8 in the bulk, but precise far in the tails."""
    torch.manual_seed(0)
    ours, stock = EntropyBottleneck(4), StockBottleneck(4)
    stock.load_state_dict(ours.state_dict())
    exact = copy.deepcopy(stock).double()
    v = torch.linspace(-5, 5, 41).repeat(4, 1, 1)
    assert torch.allclose(ours._likelihood(v)[0], stock._likelihood(v)[0], atol=1e-6)
    tail = torch.full((4, 1, 1), 150.0)
    with torch.no_grad():
        truth = exact._likelihood(tail.double())[0]

    def rel_error(model):
        with torch.no_grad():
            return float(((model._likelihood(tail)[0] - truth) / truth).abs().max())

    assert rel_error(ours) < 1e-4 < 0.1 < rel_error(stock)


def test_rat_blockwise_kernels_equal_full_generator():
    """The blockwise DKG + DPSConv gives exactly the one-shot computation of the reference."""
    from segpic.layers import RegionAdaptiveTransform

    torch.manual_seed(0)
    rat = RegionAdaptiveTransform(40, 40)  # two blocks, the last one partial
    x, p = torch.randn(1, 40, 6, 10), torch.randn(1, 40, 6, 10)
    with torch.no_grad():
        f1 = rat.conv(x)
        kernels = rat.k_sp_gen(torch.cat([f1, p], dim=1)).view(1, 40, 9, 6, 10)
        d = dps_conv(f1, kernels)
        ref = x + rat.conv_out(rat.k_ch_gen(d) * d)
        assert torch.equal(rat(x, p), ref)
