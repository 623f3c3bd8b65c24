"""SegPIC (Liu et al., "Region-Adaptive Transform with Segmentation Prior for Image
Compression", ECCV 2024): WACNN with Scale Affine Layers in every down/up block, five
Region-Adaptive Transforms fed by coded prototypes, and two prototype codecs.

    y'  = g_a1(x)                               (B, N, H/4, W/4)   Down, Down, WAM(N, 8, 4)
    p'  = pool(y', mask/4 | grid); p^' = g_sb(Q(g_ab(p')))               prototypes at 1/4
    y   = g_a2(RAT_enc(y', P^'))                (B, M, H/16, W/16) Down, Down, WAM(M, 4, 2)
    p   = pool(y, mask/16 | grid); p^ = g_sb2(Q(g_ab2(p)))               prototypes at 1/16
    z   = h_a(RAT_hyp(y, P^));  z^ = Q_med(z)
    mu  = RAT_mu(h_mean_s(z^), P^);  sigma = RAT_sigma(h_scale_s(z^), P^)
    y^  = ChARM(y | mu, sigma)                  (the coded latent is y, not RAT_hyp(y))
    x^  = g_s1(RAT_dec(g_s0(y^), P^'))          WAM, Up, Up | WAM, Up, Up(N -> 32), Conv1x1(32 -> 3)

P^ denotes the prototypes expanded to per-pixel maps. Real coding (compress/decompress)
uses grid prototypes only, as the reference; masks are training-time privileged information.

Memory. Without autograd, on images of more than BAND_PIXELS pixels, the two full-resolution
down-blocks of g_a1 and the two up-blocks + output conv of g_s1 run on bands of rows with a
halo that covers their receptive field (segpic.ops.rowwise.map_row_bands), so their
half-resolution 192-channel maps (528 MB each for 2048x1344) never exist whole.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from segpic.entropy.bottleneck import EntropyBottleneck
from compressai.layers import conv1x1

from segpic.entropy.hyperprior import interpolated_widths, quantize_bottleneck
from segpic.entropy.prototypes import (
    REFERENCE_PROTOTYPE_WIDTHS, code_prototypes, grid_expand, grid_pool, mask_expand, mask_pool,
    prototype_analysis, prototype_synthesis, subsample_labels,
)
from segpic.layers.rat import RegionAdaptiveTransform
from segpic.layers.sal import DownSAL, UpSAL
from segpic.layers.wam import WAM
from segpic.ops.rowwise import map_row_bands
from segpic.ops.threads import run_tasks

from .base import HyperpriorChannelAR

__all__ = ["SegPIC", "BAND_PIXELS"]

BAND_PIXELS = 1 << 20  # full-resolution pixels per band of the outer blocks at inference
# Halos (rows of the block input) covering the receptive fields of the banded blocks: two
# 5x5/2 down-blocks read full rows 4k-6 .. 4k+6 for 1/4-scale row k (rounded up to the
# stride alignment 4); two 5x5/2 up-blocks read 1/4-scale rows within 2 of o/4.
HEAD_HALO, TAIL_HALO = 8, 2


class SegPIC(HyperpriorChannelAR):
    """SegPIC with N transform channels and M latent channels.

    Constraints: N and M divisible by 8 (WAM heads, halved residual units); M a multiple
    of num_slices (num_slices=None: 32-channel slices, so M a multiple of 32);
    input H and W multiples of 64 (use segpic.models.base.pad_to_multiple).

    prototype_widths: ((a1, a2, c, s1, s2) at 1/4 scale, (a1, a2, c, s1, s2) at 1/16 scale),
        the two prototype codecs (segpic.entropy.prototypes); None = the reference's widths,
        whatever N and M (the training config ``small`` passes ``scaled_prototype_widths``).

    forward(x, mask=None, grid=4) -> {"x_hat", "likelihoods": {"y", "z", "z_center", "z_center2"}}
        mask: optional (B, H, W) int64 region ids 0..K_b-1 per image; without it the
        prototypes are pooled on a grid x grid layout. x_hat is not clamped.
    compress(x, grid=4) -> {"strings": [y, z, q', q] (a list of bytes per item each), "shape"}
    decompress(strings, shape, grid=4) -> {"x_hat"}, NOT clamped: the reference clamps in its
        evaluation code, not in the model (unlike WACNN/STF); callers clamp to [0, 1].
    """

    num_streams = 4  # compress()'s strings: [y, z, q', q]

    def __init__(self, N: int = 192, M: int = 320, num_slices: Optional[int] = None, max_support_slices: int = 5,
                 prototype_widths: Optional[Sequence[Sequence[int]]] = None):
        widths1, widths2 = prototype_widths or REFERENCE_PROTOTYPE_WIDTHS
        if len(widths1) != 5 or len(widths2) != 5:
            raise ValueError(f"prototype_widths needs two lists of 5 widths, got {prototype_widths}")
        ha, hs = interpolated_widths(N, M)
        super().__init__(N, M, num_slices, max_support_slices, ha, hs)
        self.g_a1 = nn.Sequential(DownSAL(3, N), DownSAL(N, N), WAM(N, 8, 8, 4))
        self.g_a2 = nn.Sequential(DownSAL(N, N), DownSAL(N, M), WAM(M, 8, 4, 2))
        self.g_s0 = nn.Sequential(WAM(M, 8, 4, 2), UpSAL(M, N), UpSAL(N, N))
        self.g_s1 = nn.Sequential(WAM(N, 8, 8, 4), UpSAL(N, N), UpSAL(N, 32), conv1x1(32, 3))

        self.g_ab = prototype_analysis(N, widths1)
        self.g_sb = prototype_synthesis(N, widths1)
        self.entropy_bottleneck_b = EntropyBottleneck(widths1[2])
        self.g_ab2 = prototype_analysis(M, widths2)
        self.g_sb2 = prototype_synthesis(M, widths2)
        self.entropy_bottleneck_b2 = EntropyBottleneck(widths2[2])

        self.dyn_encoder = RegionAdaptiveTransform(N, N)
        self.dyn_decoder = RegionAdaptiveTransform(N, N)
        self.dyn_enc_hyper = RegionAdaptiveTransform(M, M)
        self.dyn_dec_hyper_means = RegionAdaptiveTransform(M, M)
        self.dyn_dec_hyper_scales = RegionAdaptiveTransform(M, M)

    # -- prototypes -------------------------------------------------------------------------
    def _prototypes(self, feature, labels, grid, analysis, bottleneck, synthesis):
        """Pool, code and expand prototypes of ``feature``: (map (B, C, h, w), likelihoods)."""
        if labels is not None:
            p_hat, lk = code_prototypes(mask_pool(feature, labels), analysis, bottleneck, synthesis)
            return mask_expand(p_hat, labels), lk
        p_hat, lk = code_prototypes(grid_pool(feature, grid), analysis, bottleneck, synthesis)
        return grid_expand(p_hat, feature.shape[-2:]), lk

    @staticmethod
    def _band_rows(height: int, width: int) -> int:
        """Full-resolution rows per band (a multiple of 64); >= height means one band."""
        return max(64, BAND_PIXELS // width // 64 * 64)

    def _g_a1(self, x):
        """g_a1: (B, 3, H, W) -> (B, N, H/4, W/4), the down-blocks banded at inference."""
        head, wam = self.g_a1[:2], self.g_a1[2]
        rows = self._band_rows(*x.shape[-2:])
        if torch.is_grad_enabled() or rows >= x.shape[-2]:
            return wam(head(x))
        return wam(map_row_bands(head, x, 1, 4, HEAD_HALO, rows))

    def _g_s1(self, h):
        """g_s1: (B, N, H/4, W/4) -> (B, 3, H, W), the up-blocks banded at inference."""
        wam, tail = self.g_s1[0], self.g_s1[1:]
        h = wam(h)
        rows = self._band_rows(4 * h.shape[-2], 4 * h.shape[-1])
        if torch.is_grad_enabled() or rows >= 4 * h.shape[-2]:
            return tail(h)
        return map_row_bands(tail, h, 4, 1, TAIL_HALO, rows // 4)

    def _hyper_params(self, z_hat, protos):
        """mu_lat and sigma_lat (B, M, h, w); at inference the two chains run side by side,
        each whole on one thread."""
        def means():
            return self.dyn_dec_hyper_means(self.h_mean_s(z_hat), protos)

        def scales():
            return self.dyn_dec_hyper_scales(self.h_scale_s(z_hat), protos)

        mu, sigma = run_tasks(means, scales)
        return mu, sigma

    # -- CompressAI interface ---------------------------------------------------------------
    def forward(self, x: torch.Tensor, mask: torch.Tensor = None, grid: int = 4) -> dict:
        mask4 = mask16 = None
        if mask is not None:
            mask4 = subsample_labels(mask, 4)
            mask16 = subsample_labels(mask4, 4)
        y1 = self._g_a1(x)
        P1, q1_likelihoods = self._prototypes(y1, mask4, grid, self.g_ab, self.entropy_bottleneck_b, self.g_sb)
        y = self.g_a2(self.dyn_encoder(y1, P1))
        P2, q2_likelihoods = self._prototypes(y, mask16, grid, self.g_ab2, self.entropy_bottleneck_b2, self.g_sb2)
        z_hat, z_likelihoods = quantize_bottleneck(self.entropy_bottleneck, self.h_a(self.dyn_enc_hyper(y, P2)))
        y_hat, y_likelihoods = self.latent_codec(y, *self._hyper_params(z_hat, P2))
        x_hat = self._g_s1(self.dyn_decoder(self.g_s0(y_hat), P1))
        return {
            "x_hat": x_hat,
            "likelihoods": {"y": y_likelihoods, "z": z_likelihoods,
                            "z_center": q1_likelihoods, "z_center2": q2_likelihoods},
        }

    def _grid_prototypes_encode(self, feature, grid, analysis, bottleneck, synthesis):
        strings = bottleneck.compress(analysis(grid_pool(feature, grid)))
        return strings, self._grid_prototypes_decode(strings, feature.shape[-2:], grid, bottleneck, synthesis)

    @staticmethod
    def _grid_prototypes_decode(strings, size, grid, bottleneck, synthesis):
        return grid_expand(synthesis(bottleneck.decompress(strings, (grid, grid))), size)

    def compress(self, x: torch.Tensor, grid: int = 4) -> dict:
        y1 = self._g_a1(x)
        q1_strings, P1 = self._grid_prototypes_encode(y1, grid, self.g_ab, self.entropy_bottleneck_b, self.g_sb)
        y = self.g_a2(self.dyn_encoder(y1, P1))
        q2_strings, P2 = self._grid_prototypes_encode(y, grid, self.g_ab2, self.entropy_bottleneck_b2, self.g_sb2)
        z = self.h_a(self.dyn_enc_hyper(y, P2))
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        y_strings = self.latent_codec.compress(y, *self._hyper_params(z_hat, P2))
        return {"strings": [y_strings, z_strings, q1_strings, q2_strings], "shape": list(z.shape[-2:])}

    def decompress(self, strings, shape, grid: int = 4) -> dict:
        y_strings, z_strings, q1_strings, q2_strings = strings
        h, w = shape
        P2 = self._grid_prototypes_decode(q2_strings, (4 * h, 4 * w), grid, self.entropy_bottleneck_b2, self.g_sb2)
        P1 = self._grid_prototypes_decode(q1_strings, (16 * h, 16 * w), grid, self.entropy_bottleneck_b, self.g_sb)
        z_hat = self.entropy_bottleneck.decompress(z_strings, shape)
        y_hat = self.latent_codec.decompress(y_strings, *self._hyper_params(z_hat, P2))
        return {"x_hat": self._g_s1(self.dyn_decoder(self.g_s0(y_hat), P1))}
