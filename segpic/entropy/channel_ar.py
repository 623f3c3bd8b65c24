"""Channel-wise autoregressive entropy model with latent residual prediction (ChARM + LRP).

Minnen & Singh, "Channel-wise autoregressive entropy models for learned image compression",
ICIP 2020, as used by STF, WACNN and SegPIC. The latent y (B, M, h, w) is split into S slices
of s = M / S channels. With C_i = [y_hat_0, ..., y_hat_{min(i,K)-1}] (the *first* K decoded
slices; all of them when K < 0):

    mu_i      = F_i^mu   ([mu_lat,    C_i])
    sigma_i   = F_i^sigma([sigma_lat, C_i])              (lower-bounded at 0.11 by the coder)
    y_hat_i'  = round(y_i - mu_i) + mu_i                  (straight-through in training)
    y_hat_i   = y_hat_i' + 0.5 tanh(G_i([mu_lat, C_i, y_hat_i']))
    rate_i    = -log2 P(y_i | mu_i, sigma_i),  P = Gaussian convolved with U(-1/2, 1/2)

Every F_i and G_i is five 3x3 stride-1 convs  in -> 224 -> 176 -> 128 -> 64 -> s  with GELU
between. mu_lat and sigma_lat are the two hyper-synthesis outputs (B, M, h, w).

API.  ``ChannelAR`` is a latent codec that a model composes (in the spirit of CompressAI's
``latent_codecs``): slice sizes, the slice-transform factory and whether to use LRP are its
arguments::

    self.latent_codec = ChannelAR(M=320, num_slices=10, max_support_slices=5)
    y_hat, y_likelihoods = self.latent_codec(y, mu_lat, sigma_lat)              # training / eval
    y_strings            = self.latent_codec.compress(y, mu_lat, sigma_lat)     # list[bytes], one per item
    y_hat                = self.latent_codec.decompress(y_strings, mu_lat, sigma_lat)

Its parameters are ``cc_mean_transforms.*``, ``cc_scale_transforms.*``, ``lrp_transforms.*``
and ``gaussian_conditional.*``; the SegPIC-family models keep these reference names at the top
of their state_dict (``segpic.models.base``).

``compress`` writes all slices of a batch item into one rANS stream; decoding repeats
the encoder's arithmetic exactly, so ``decompress`` returns the y_hat the encoder's
networks imply, bit for bit. The encoder runs the LRP only on the slices that condition
later ones (the first K): the others' y_hat is the decoder's business. ``update(force=True)`` (inherited) builds the Gaussian CDF tables for the default
64-level scale table exp(linspace(ln 0.11, ln 256, 64)) (the owning model's ``update``).
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from compressai.ans import BufferedRansEncoder
from compressai.entropy_models import GaussianConditional
from compressai.layers import conv3x3
from compressai.ops import quantize_ste

from segpic.ops.threads import run_tasks

from .rans import RansStream

__all__ = ["ChannelAR", "slice_transform"]

HIDDEN = (224, 176, 128, 64)


def slice_transform(in_channels: int, out_channels: int) -> nn.Sequential:
    """Five 3x3 stride-1 convs in -> 224 -> 176 -> 128 -> 64 -> out, GELU between."""
    widths = (in_channels,) + HIDDEN
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [conv3x3(a, b), nn.GELU()]
    layers.append(conv3x3(widths[-1], out_channels))
    return nn.Sequential(*layers)


class ChannelAR(nn.Module):
    """The latent y coded by ChARM + LRP, slice by slice.

    Args:
        M: latent channels.
        num_slices: S, the number of equal channel slices; None gives slices of 32 channels
            (S = M / 32: 10 for M=320, 12 for M=384, as the reference models).  Ignored when
            ``slice_sizes`` is given.
        max_support_slices: K, how many of the first decoded slices condition the next ones
            (negative: all previous slices).
        slice_sizes: channels per slice (summing to M), e.g. uneven groups; default equal.
        transform: ``(in_channels, out_channels) -> nn.Module`` building every F_i and G_i
            (default :func:`slice_transform`, the reference's five 3x3 convs).
        lrp: latent residual prediction (G_i); without it y_hat_i = y_hat_i'.
    """

    def __init__(self, M: int, num_slices: Optional[int] = None, max_support_slices: int = -1,
                 slice_sizes: Optional[Sequence[int]] = None,
                 transform: Callable[[int, int], nn.Module] = slice_transform, lrp: bool = True):
        super().__init__()
        if slice_sizes is None:
            if num_slices is None:
                if M % 32:
                    raise ValueError(f"M={M} is not a multiple of 32; pass num_slices explicitly")
                num_slices = M // 32
            if M % num_slices:
                raise ValueError(f"M={M} is not divisible by num_slices={num_slices}")
            slice_sizes = [M // num_slices] * num_slices
        if sum(slice_sizes) != M or min(slice_sizes) < 1:
            raise ValueError(f"slice sizes {list(slice_sizes)} do not split M={M}")
        self.M = M
        self.slice_sizes = list(slice_sizes)
        self.num_slices = len(self.slice_sizes)
        self.max_support_slices = max_support_slices
        self.lrp = lrp
        support = [sum(self.slice_sizes[: self._num_support(i)]) for i in range(self.num_slices)]
        self.cc_mean_transforms = nn.ModuleList(transform(M + c, s) for c, s in zip(support, self.slice_sizes))
        self.cc_scale_transforms = nn.ModuleList(transform(M + c, s) for c, s in zip(support, self.slice_sizes))
        if lrp:
            self.lrp_transforms = nn.ModuleList(transform(M + c + s, s) for c, s in zip(support, self.slice_sizes))
        self.gaussian_conditional = GaussianConditional(None)

    def _num_support(self, i: int) -> int:
        return i if self.max_support_slices < 0 else min(i, self.max_support_slices)

    def _conditions_later_slices(self, i: int) -> bool:
        """Whether y_hat_i is in the support of a later slice."""
        return i < self.num_slices - 1 and (self.max_support_slices < 0 or i < self.max_support_slices)

    def _slices(self, y: torch.Tensor):
        return y.split(self.slice_sizes, dim=1)

    def _slice_params(self, i: int, mu_lat, sigma_lat, decoded: List[torch.Tensor]):
        """mu_i, sigma_i and the mean support [mu_lat, C_i] of slice i. At inference the two
        networks run side by side, each whole on one thread (``run_tasks``)."""
        support = decoded[: self._num_support(i)]
        mean_support = torch.cat([mu_lat] + support, dim=1)

        def mean():
            return self.cc_mean_transforms[i](mean_support)

        def scale():
            return self.cc_scale_transforms[i](torch.cat([sigma_lat] + support, dim=1))

        mu, sigma = run_tasks(mean, scale)
        return mu, sigma, mean_support

    def _refine(self, i: int, mean_support, y_hat_slice):
        """Latent residual prediction: y_hat_i' + 0.5 tanh(G_i([mu_lat, C_i, y_hat_i']))."""
        if not self.lrp:
            return y_hat_slice
        lrp = self.lrp_transforms[i](torch.cat([mean_support, y_hat_slice], dim=1))
        return y_hat_slice + 0.5 * torch.tanh(lrp)

    def forward(self, y, mu_lat, sigma_lat) -> Tuple[torch.Tensor, torch.Tensor]:
        """y, mu_lat, sigma_lat: (B, M, h, w). Returns y_hat and the likelihoods, both (B, M, h, w).

        Likelihoods use additive uniform noise in training and rounding around mu in eval;
        y_hat always uses (straight-through) rounding around mu.
        """
        decoded, likelihoods = [], []
        for i, y_slice in enumerate(self._slices(y)):
            mu, sigma, mean_support = self._slice_params(i, mu_lat, sigma_lat, decoded)
            _, lk = self.gaussian_conditional(y_slice, sigma, mu)
            likelihoods.append(lk)
            decoded.append(self._refine(i, mean_support, quantize_ste(y_slice - mu) + mu))
        return torch.cat(decoded, dim=1), torch.cat(likelihoods, dim=1)

    def _coder_tables(self):
        gc = self.gaussian_conditional
        return (
            gc.quantized_cdf.tolist(),
            gc.cdf_length.reshape(-1).int().tolist(),
            gc.offset.reshape(-1).int().tolist(),
        )

    def compress(self, y, mu_lat, sigma_lat) -> List[bytes]:
        """Code y (B, M, h, w): one rANS stream per batch item."""
        gc = self.gaussian_conditional
        decoded, symbols, indexes = [], [], []
        for i, y_slice in enumerate(self._slices(y)):
            mu, sigma, mean_support = self._slice_params(i, mu_lat, sigma_lat, decoded)
            q = gc.quantize(y_slice, "symbols", mu)
            symbols.append(q)
            indexes.append(gc.build_indexes(sigma))
            if self._conditions_later_slices(i):
                decoded.append(self._refine(i, mean_support, gc.dequantize(q, mu)))
        cdf, cdf_lengths, offsets = self._coder_tables()
        strings = []
        for b in range(y.shape[0]):
            encoder = BufferedRansEncoder()
            for q, idx in zip(symbols, indexes):
                encoder.encode_with_indexes(
                    q[b].reshape(-1).tolist(), idx[b].reshape(-1).tolist(), cdf, cdf_lengths, offsets
                )
            strings.append(encoder.flush())
        return strings

    def decompress(self, strings: List[bytes], mu_lat, sigma_lat) -> torch.Tensor:
        """Decode y_hat (B, M, h, w) from one stream per item; h, w are taken from mu_lat."""
        if len(strings) != mu_lat.shape[0]:
            raise ValueError(f"{len(strings)} latent streams for a batch of {mu_lat.shape[0]}")
        gc = self.gaussian_conditional
        cdf, cdf_lengths, offsets = self._coder_tables()
        streams = []
        try:
            for s in strings:
                streams.append(RansStream(s, name="latent (y) stream"))
            decoded = []
            for i in range(self.num_slices):
                mu, sigma, mean_support = self._slice_params(i, mu_lat, sigma_lat, decoded)
                idx = gc.build_indexes(sigma)
                q = torch.stack([
                    torch.tensor(
                        stream.decode(idx[b].reshape(-1).tolist(), cdf, cdf_lengths, offsets), dtype=torch.int32,
                    ).reshape(mu.shape[1:])
                    for b, stream in enumerate(streams)
                ]).to(mu.device)
                decoded.append(self._refine(i, mean_support, gc.dequantize(q, mu)))
            for stream in streams:
                stream.finish()
        finally:
            for stream in streams:
                stream.close()
        return torch.cat(decoded, dim=1)
