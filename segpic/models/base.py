"""Shared model plumbing: centred padding to the networks' size multiple, and the hyperprior
+ ChARM skeleton that WACNN, STF and SegPIC have in common."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from segpic.entropy.bottleneck import EntropyBottleneck

from segpic.entropy.channel_ar import ChannelAR
from segpic.entropy.hyperprior import hyper_analysis, hyper_synthesis, quantize_bottleneck

__all__ = ["pad_to_multiple", "crop", "HyperpriorChannelAR"]


def pad_to_multiple(x: torch.Tensor, multiple: int = 64) -> Tuple[torch.Tensor, Tuple[int, int, int, int]]:
    """Zero-pad (B, C, H, W) to multiples of ``multiple``, centred as in the reference
    evaluation: left = floor(dW/2), top = floor(dH/2). Returns (x_padded, padding) with
    padding = (left, right, top, bottom) in pixels."""
    H, W = x.shape[-2:]
    dh = (-H) % multiple
    dw = (-W) % multiple
    padding = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    return F.pad(x, padding, mode="constant", value=0.0), padding


def crop(x: torch.Tensor, padding: Sequence[int]) -> torch.Tensor:
    """Undo ``pad_to_multiple``: remove (left, right, top, bottom) pixels."""
    left, right, top, bottom = padding
    H, W = x.shape[-2:]
    return x[..., top : H - bottom, left : W - right]


class HyperpriorChannelAR(ChannelAR):
    """y = g_a(x); z = h_a(y); y coded by ChARM + LRP conditioned on h_mean_s(z_hat), h_scale_s(z_hat).

    Subclasses provide ``analysis(x) -> y`` (B, M, H/16, W/16) and ``synthesis(y_hat) -> x_hat``.
    State names follow the reference: h_a, h_mean_s, h_scale_s, entropy_bottleneck (N channels),
    plus ChannelAR's. H and W must be multiples of 64 (y is 4x the size of z).

    Interface: forward(x) -> {"x_hat", "likelihoods": {"y", "z"}};
    compress(x) -> {"strings": [y_strings, z_strings], "shape": [h_z, w_z]} (one bytes per item);
    decompress(strings, shape) -> {"x_hat"} clamped to [0, 1].
    """

    num_streams = 2  # compress()'s strings: [y, z]

    def __init__(self, N: int, M: int, num_slices: Optional[int], max_support_slices: int,
                 ha_widths: Sequence[int], hs_widths: Sequence[int]):
        super().__init__(M=M, num_slices=num_slices, max_support_slices=max_support_slices)
        self.N = N
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.h_a = hyper_analysis(M, N, ha_widths)
        self.h_mean_s = hyper_synthesis(N, M, hs_widths)
        self.h_scale_s = hyper_synthesis(N, M, hs_widths)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict:
        y = self.analysis(x)
        z_hat, z_likelihoods = quantize_bottleneck(self.entropy_bottleneck, self.h_a(y))
        y_hat, y_likelihoods = self.latent_forward(y, self.h_mean_s(z_hat), self.h_scale_s(z_hat))
        return {"x_hat": self.synthesis(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def compress(self, x: torch.Tensor) -> dict:
        y = self.analysis(x)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        y_strings = self.latent_compress(y, self.h_mean_s(z_hat), self.h_scale_s(z_hat))
        return {"strings": [y_strings, z_strings], "shape": list(z.shape[-2:])}

    def decompress(self, strings, shape) -> dict:
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        y_hat = self.latent_decompress(strings[0], self.h_mean_s(z_hat), self.h_scale_s(z_hat))
        return {"x_hat": self.synthesis(y_hat).clamp_(0, 1)}
