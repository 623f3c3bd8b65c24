"""STF, the SymmetricalTransFormer (Zou, Song, Zhang, CVPR 2022): Swin Transformer
analysis and synthesis around the hyperprior + ChARM/LRP entropy model shared with
WACNN and SegPIC.

    analysis  x (B,3,H,W) -> PatchEmbed (conv 2x2/2, LN)                     H/2,  C
              -> [Swin stage, PatchMerging] x 3 -> Swin stage                 H/16, 8C = M
    synthesis y_hat (B,M,H/16,W/16) -> [Swin stage, PatchSplit] x 3 -> Swin stage  H/2, C
              -> conv5x5 C->4C, PixelShuffle(2), conv3x3 C->3                 x_hat (B,3,H,W)

Swin stages alternate W-MSA and SW-MSA (window 4, shift 2); the synthesis mirrors the
analysis (depths and heads reversed).  Stochastic depth rises linearly from 0 to
``drop_path_rate`` over the analysis blocks; the synthesis takes the same schedule cut by
its own (reversed) depths.  The reference configuration (all defaults) has C = 48,
M = 384, N = 192, 12 slices of 32 channels, support 6, and 99,855,639 parameters; its
state_dict names are kept (``layers.*``, ``syn_layers.*``, ``end_conv.*``, resampling
layers called ``downsample`` in both directions).
"""
from typing import Sequence

import torch
import torch.nn as nn

from segpic.entropy.hyperprior import interpolated_widths
from segpic.layers.swin import PatchEmbed, PatchMerging, PatchSplit, SwinStage

from .base import HyperpriorChannelAR

__all__ = ["STF"]


class STF(HyperpriorChannelAR):
    """SymmetricalTransFormer.

    Args:
        embed_dim: C, channels after patch embedding; the latent has M = 8C channels.
        depths: Swin blocks per analysis stage (four stages; synthesis uses them reversed).
        num_heads: attention heads per analysis stage (reversed for the synthesis).
        window_size: attention window side (the shift is half of it).
        mlp_ratio: MLP hidden width / channels in the Swin blocks.
        drop_path_rate: stochastic depth of the deepest block (training only).
        N: hyper-latent channels z.
        num_slices, max_support_slices: ChARM slices and their support (M divisible by slices).

    Input H and W must be multiples of 64 (y is H/16, z is H/64).
    """

    def __init__(
        self,
        embed_dim: int = 48,
        depths: Sequence[int] = (2, 2, 6, 2),
        num_heads: Sequence[int] = (3, 6, 12, 24),
        window_size: int = 4,
        mlp_ratio: float = 4.0,
        drop_path_rate: float = 0.2,
        N: int = 192,
        num_slices: int = 12,
        max_support_slices: int = 6,
    ):
        if len(depths) != 4 or len(num_heads) != 4:
            raise ValueError("STF has four Swin stages: depths and num_heads need four entries")
        M = embed_dim * 8
        # h_a narrows M -> N in steps of (M - N) / 4; h_s widens N -> M in the same steps.
        ha_widths, _ = interpolated_widths(N, M)
        step = (M - N) // 4
        hs_widths = tuple(N + k * step for k in range(1, 5))
        super().__init__(N, M, num_slices, max_support_slices, ha_widths, hs_widths)

        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed(3, embed_dim, patch_size=2)
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()

        def stages(dims, depths, heads, resample):
            bounds = [sum(depths[:i]) for i in range(len(depths) + 1)]
            return nn.ModuleList(
                SwinStage(
                    dims[i], depths[i], heads[i], window_size, mlp_ratio,
                    drop_path=rates[bounds[i]:bounds[i + 1]],
                    resample=resample if i < len(depths) - 1 else None,
                )
                for i in range(len(depths))
            )

        dims = [embed_dim * 2**i for i in range(4)]
        self.layers = stages(dims, list(depths), list(num_heads), PatchMerging)
        self.syn_layers = stages(dims[::-1], list(depths)[::-1], list(num_heads)[::-1], PatchSplit)
        self.end_conv = nn.Sequential(
            nn.Conv2d(embed_dim, embed_dim * 4, kernel_size=5, padding=2),
            nn.PixelShuffle(2),
            nn.Conv2d(embed_dim, 3, kernel_size=3, padding=1),
        )

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 3, H, W) -> y (B, M, H/16, W/16)."""
        h = self.patch_embed(x)  # channels-last from here on
        for stage in self.layers:
            h = stage(h)
        return h.permute(0, 3, 1, 2).contiguous()

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        """y_hat (B, M, H/16, W/16) -> x_hat (B, 3, H, W), not clamped."""
        h = y_hat.permute(0, 2, 3, 1)
        for stage in self.syn_layers:
            h = stage(h)
        return self.end_conv(h.permute(0, 3, 1, 2).contiguous())
