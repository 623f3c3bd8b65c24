"""Shared model plumbing: centred padding to the networks' size multiple, and the hyperprior
+ ChARM skeleton (a model composing the :class:`ChannelAR` latent codec) that WACNN, STF and
SegPIC have in common."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.entropy_models import EntropyModel
from compressai.models import CompressionModel

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


LATENT_CODEC = "latent_codec."


def _reference_names(module, state_dict, prefix, local_metadata) -> None:
    """State-dict hook: the latent codec's entries without ``latent_codec.`` (the reference's
    names), in place and in order."""
    nested = prefix + LATENT_CODEC
    items = list(state_dict.items())
    state_dict.clear()
    for key, value in items:
        state_dict[prefix + key[len(nested):] if key.startswith(nested) else key] = value


class HyperpriorChannelAR(CompressionModel):
    """y = g_a(x); z = h_a(y); y coded by a ChARM + LRP latent codec conditioned on h_mean_s(z_hat),
    h_scale_s(z_hat).

    Subclasses provide ``analysis(x) -> y`` (B, M, H/16, W/16) and ``synthesis(y_hat) -> x_hat``.
    The latent codec is a component, ``self.latent_codec`` (:class:`ChannelAR`, built from
    ``latent_codec_kwargs``: slice sizes, transforms, LRP).  State names follow the reference:
    h_a, h_mean_s, h_scale_s, entropy_bottleneck (N channels), and the latent codec's
    cc_mean_transforms, cc_scale_transforms, lrp_transforms, gaussian_conditional at the top
    level of the state_dict (without the ``latent_codec.`` of the module tree; loading accepts
    both).  H and W must be multiples of 64 (y is 4x the size of z).

    Interface: forward(x) -> {"x_hat", "likelihoods": {"y", "z"}};
    compress(x) -> {"strings": [y_strings, z_strings], "shape": [h_z, w_z]} (one bytes per item);
    decompress(strings, shape) -> {"x_hat"} clamped to [0, 1].
    """

    num_streams = 2  # compress()'s strings: [y, z]

    def __init__(self, N: int, M: int, num_slices: Optional[int], max_support_slices: int,
                 ha_widths: Sequence[int], hs_widths: Sequence[int], **latent_codec_kwargs):
        super().__init__()
        self.latent_codec = ChannelAR(M, num_slices, max_support_slices, **latent_codec_kwargs)
        self.N, self.M = N, M
        self.entropy_bottleneck = EntropyBottleneck(N)
        self.h_a = hyper_analysis(M, N, ha_widths)
        self.h_mean_s = hyper_synthesis(N, M, hs_widths)
        self.h_scale_s = hyper_synthesis(N, M, hs_widths)
        self._register_state_dict_hook(_reference_names)
        self._register_load_state_dict_pre_hook(self._nest_latent_codec)

    def _nest_latent_codec(self, state_dict, prefix, *args) -> None:
        """Load pre-hook: the latent codec's reference names (``gaussian_conditional.*`` ...)
        -> ``latent_codec.*``, in place."""
        own = tuple(f"{prefix}{name}." for name in self.latent_codec._modules)
        for key in [k for k in state_dict if k.startswith(own)]:
            state_dict[f"{prefix}{LATENT_CODEC}{key[len(prefix):]}"] = state_dict.pop(key)

    def load_state_dict(self, state_dict, strict: bool = True):
        """nn.Module's strict load, after resizing every entropy model's CDF buffers
        (_offset, _quantized_cdf, _cdf_length, scale_table) to the stored sizes.

        Replaces CompressionModel.load_state_dict, whose key remapping breaks on module names
        that prefix one another (entropy_bottleneck / entropy_bottleneck_b).
        """
        state_dict = dict(state_dict)
        self._nest_latent_codec(state_dict, "")
        for name, module in self.named_modules():
            if isinstance(module, EntropyModel):
                for buf_name, buf in module.named_buffers(recurse=False):
                    stored = state_dict.get(f"{name}.{buf_name}")
                    if stored is not None and stored.shape != buf.shape:
                        buf.resize_(stored.shape)
        return nn.Module.load_state_dict(self, state_dict, strict=strict)

    def analysis(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def synthesis(self, y_hat: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> dict:
        y = self.analysis(x)
        z_hat, z_likelihoods = quantize_bottleneck(self.entropy_bottleneck, self.h_a(y))
        y_hat, y_likelihoods = self.latent_codec(y, self.h_mean_s(z_hat), self.h_scale_s(z_hat))
        return {"x_hat": self.synthesis(y_hat), "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    def compress(self, x: torch.Tensor) -> dict:
        y = self.analysis(x)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        y_strings = self.latent_codec.compress(y, self.h_mean_s(z_hat), self.h_scale_s(z_hat))
        return {"strings": [y_strings, z_strings], "shape": list(z.shape[-2:])}

    def decompress(self, strings, shape) -> dict:
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        y_hat = self.latent_codec.decompress(strings[0], self.h_mean_s(z_hat), self.h_scale_s(z_hat))
        return {"x_hat": self.synthesis(y_hat).clamp_(0, 1)}

