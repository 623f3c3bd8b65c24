"""STF's Swin pieces: shapes, the 2x2 merge order, and window locality of W-MSA/SW-MSA."""
import pytest
import torch
import torch.nn as nn

from segpic.layers.swin import PatchEmbed, PatchMerging, PatchSplit, SwinBlock, SwinStage
from segpic.layers.window_attention import shifted_window_mask


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_patch_merging_concatenates_neighbours_in_reference_order():
    m = PatchMerging(1)
    m.norm, m.reduction = nn.Identity(), nn.Identity()
    x = torch.arange(16.0).view(1, 4, 4, 1)  # value = 4 * row + col
    out = m(x)
    assert out.shape == (1, 2, 2, 4)
    # (even row, even col), (odd, even), (even, odd), (odd, odd) of the top-left 2x2
    assert out[0, 0, 0].tolist() == [0.0, 4.0, 1.0, 5.0]


@pytest.mark.parametrize("h,w", [(8, 12), (7, 5)])
def test_resampling_shapes(h, w):
    x = torch.randn(2, h, w, 8)
    assert PatchMerging(8)(x).shape == (2, (h + 1) // 2, (w + 1) // 2, 16)
    assert PatchSplit(8)(x).shape == (2, 2 * h, 2 * w, 4)
    assert PatchEmbed(3, 8)(torch.randn(2, 3, h, w)).shape == (2, (h + 1) // 2, (w + 1) // 2, 8)


def test_patch_split_is_pixel_shuffle_of_the_projection():
    m = PatchSplit(4).eval()
    x = torch.randn(1, 3, 5, 4)
    proj = m.reduction(m.norm(x)).permute(0, 3, 1, 2)  # (1, 8, 3, 5)
    out = m(x)  # (1, 6, 10, 2)
    # PixelShuffle: output channel c at (2i + a, 2j + b) is input channel 4c + 2a + b at (i, j)
    assert torch.equal(out[0, 2 * 1 + 1, 2 * 2 + 0, 1], proj[0, 4 * 1 + 2 * 1 + 0, 1, 2])


def _changed(block, x, mask, r, c):
    with torch.no_grad():
        y0 = block(x, mask)
        x2 = x.clone()
        x2[0, r, c] += torch.randn(x.shape[-1])  # not constant: LayerNorm would remove it
        diff = (block(x2, mask) - y0).abs().amax(-1)[0]
    return diff > 0


def test_wmsa_mixes_tokens_only_inside_their_window():
    block = SwinBlock(16, num_heads=2, window_size=4, shift_size=0).eval()
    changed = _changed(block, torch.randn(1, 8, 8, 16), None, 5, 2)
    expect = torch.zeros(8, 8, dtype=torch.bool)
    expect[4:8, 0:4] = True
    assert torch.equal(changed, expect)


def test_swmsa_mask_keeps_wrapped_regions_apart():
    # After the roll by -2, the image's top-left 2x2 corner lands in the bottom-right
    # window next to tokens from the opposite borders; the mask must keep it alone.
    block = SwinBlock(16, num_heads=2, window_size=4, shift_size=2).eval()
    mask = shifted_window_mask(8, 8, 4, 2, None)
    changed = _changed(block, torch.randn(1, 8, 8, 16), mask, 0, 0)
    expect = torch.zeros(8, 8, dtype=torch.bool)
    expect[0:2, 0:2] = True
    assert torch.equal(changed, expect)
    # an interior token mixes with the shifted window around it: rows/cols 2..5
    changed = _changed(block, torch.randn(1, 8, 8, 16), mask, 3, 4)
    expect = torch.zeros(8, 8, dtype=torch.bool)
    expect[2:6, 2:6] = True
    assert torch.equal(changed, expect)


def test_padding_to_the_window_does_not_leak_into_the_map():
    # A 6x6 map is padded to 8x8 inside the block: its windows are the top-left ones of an
    # 8x8 map, so the first window's outputs equal those of the map cropped to 4x4 there.
    block = SwinBlock(16, num_heads=2, window_size=4, shift_size=0).eval()
    x = torch.randn(1, 6, 6, 16)
    with torch.no_grad():
        y = block(x)
        y4 = block(x[:, :4, :4].contiguous())
    assert y.shape == x.shape
    torch.testing.assert_close(y[:, :4, :4], y4, rtol=0, atol=1e-6)


def test_stage_alternates_shift_and_resamples():
    stage = SwinStage(16, depth=3, num_heads=2, window_size=4, drop_path=[0.0, 0.1, 0.2], resample=PatchMerging)
    assert [b.shift_size for b in stage.blocks] == [0, 2, 0]
    assert [b.drop_path.p for b in stage.blocks] == [0.0, 0.1, 0.2]
    assert stage.eval()(torch.randn(1, 6, 10, 16)).shape == (1, 3, 5, 32)
    assert SwinStage(16, 2, 2).eval()(torch.randn(1, 4, 4, 16)).shape == (1, 4, 4, 16)
