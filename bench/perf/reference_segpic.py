"""SegPIC run the way the authors' implementation runs it, for side-by-side timing.

The reference code is not available on this machine, so the baseline of the speed and
memory goals is re-created from the spec (../shared/spec/segpic.md) on our own modules: the
same weights and the same arithmetic, with the reference's inference formulation where ours
differs:

- convolutions: PyTorch's defaults (oneDNN), under ``torch.no_grad()``;
- RAT: the kernel generator's whole (B, 9C, h, w) output at once, and the DPSConv as
  ``F.unfold`` + ``einsum`` (nine copies of the features);
- SAL and GDN on whole maps, SAL as ``x * (1 + s) + b``;
- window attention over all windows at once;
- no bands of rows in the outer blocks;
- the encoder runs the LRP of every slice, as the reference's ``compress`` does.

``to_reference(model)`` switches the classes of a model's modules in place (the state_dict
does not change); the result codes the same streams up to float summation order.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from segpic.entropy.channel_ar import ChannelAR
from segpic.layers.rat import RegionAdaptiveTransform
from segpic.layers.sal import DownSAL, ScaleAffine, UpSAL
from segpic.layers.window_attention import WindowAttention
from segpic.models.base import pad_to_multiple
from segpic.models.segpic import SegPIC

__all__ = ["to_reference", "reference_encode", "reference_decode"]


class _RAT(RegionAdaptiveTransform):
    def forward(self, x, prototypes):
        f1 = self.conv(x)
        kernels = self.k_sp_gen(torch.cat([f1, prototypes], dim=1))
        B, C, h, w = f1.shape
        cols = F.unfold(f1, kernel_size=3, padding=1).view(B, C, 9, h, w)
        d = torch.einsum("bckhw,bckhw->bchw", cols, kernels.view(B, C, 9, h, w))
        return x + self.conv_out(self.k_ch_gen(d) * d)


class _ScaleAffine(ScaleAffine):
    def forward(self, x):
        s, b = nn.Sequential.forward(self, x).chunk(2, dim=1)
        return x * (1 + s) + b


class _DownSAL(DownSAL):
    def forward(self, x):
        return self.scales_bias(self.conv_groups(x))


class _UpSAL(UpSAL):
    def forward(self, x):
        return self.conv_groups(self.scales_bias(x))


class _WindowAttention(WindowAttention):
    def forward(self, x, mask=None):
        return self._attend(x, mask)


class _SegPIC(SegPIC):
    def _g_a1(self, x):
        return self.g_a1(x)

    def _g_s1(self, h):
        return self.g_s1(h)


class _ChannelAR(ChannelAR):
    def _conditions_later_slices(self, i):
        return True


_SWAPS = ((SegPIC, _SegPIC), (ChannelAR, _ChannelAR), (RegionAdaptiveTransform, _RAT),
          (ScaleAffine, _ScaleAffine),
          (DownSAL, _DownSAL), (UpSAL, _UpSAL), (WindowAttention, _WindowAttention))


def to_reference(model: SegPIC) -> SegPIC:
    """Give ``model``'s modules the reference formulation (in place); returns the model."""
    for module in model.modules():
        for ours, reference in _SWAPS:
            if type(module) is ours:
                module.__class__ = reference
    return model


def reference_encode(model: SegPIC, x: torch.Tensor, grid: int = 4) -> dict:
    """x (1, 3, H, W) in [0, 1] -> ``compress`` output, padded as the reference evaluation does."""
    with torch.no_grad():
        return model.compress(pad_to_multiple(x, 64)[0], grid=grid)


def reference_decode(model: SegPIC, out: dict, grid: int = 4) -> torch.Tensor:
    """``compress`` output -> padded x_hat, clamped as the reference evaluation does."""
    with torch.no_grad():
        return model.decompress(out["strings"], out["shape"], grid=grid)["x_hat"].clamp_(0, 1)
