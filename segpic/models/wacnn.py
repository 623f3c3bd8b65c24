"""WACNN (Zou, Song, Zhang, CVPR 2022, the "cnn" model of the STF repository): a CNN
transform with window attention modules, a hyperprior and ChARM + LRP.

    g_a: conv5/2 3->N, GDN, conv5/2 N->N, GDN, WAM(N, ws 8, ss 4),
         conv5/2 N->N, GDN, conv5/2 N->M, WAM(M, ws 4, ss 2)           x (B,3,H,W) -> y (B,M,H/16,W/16)
    g_s: WAM(M, 4, 2), deconv N, IGDN, deconv N, IGDN, WAM(N, 8, 4), deconv N, IGDN, deconv 3
"""
from typing import Optional

import torch.nn as nn
from compressai.layers import GDN
from compressai.models.utils import conv, deconv

from segpic.entropy.hyperprior import interpolated_widths
from segpic.layers.wam import WAM

from .base import HyperpriorChannelAR

__all__ = ["WACNN"]


class WACNN(HyperpriorChannelAR):
    """WACNN with N transform channels and M latent channels.

    Constraints: N and M divisible by 8 (WAM heads, halved residual units); M a multiple
    of num_slices (num_slices=None: 32-channel slices, so M a multiple of 32);
    input H and W multiples of 64. The reference is N=192, M=320, 10 slices, support 5.
    """

    def __init__(self, N: int = 192, M: int = 320, num_slices: Optional[int] = None, max_support_slices: int = 5):
        ha, hs = interpolated_widths(N, M)
        super().__init__(N, M, num_slices, max_support_slices, ha, hs)
        self.g_a = nn.Sequential(
            conv(3, N), GDN(N),
            conv(N, N), GDN(N),
            WAM(N, 8, 8, 4),
            conv(N, N), GDN(N),
            conv(N, M),
            WAM(M, 8, 4, 2),
        )
        self.g_s = nn.Sequential(
            WAM(M, 8, 4, 2),
            deconv(M, N), GDN(N, inverse=True),
            deconv(N, N), GDN(N, inverse=True),
            WAM(N, 8, 8, 4),
            deconv(N, N), GDN(N, inverse=True),
            deconv(N, 3),
        )

    def analysis(self, x):
        return self.g_a(x)

    def synthesis(self, y_hat):
        return self.g_s(y_hat)
