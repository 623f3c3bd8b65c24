"""Entropy models: the channel-wise AR latent model, hyperprior builders, the factorized
bottleneck with the reference's arithmetic, and the prototype codecs of SegPIC."""
from .bottleneck import EntropyBottleneck
from .channel_ar import ChannelAR
from .hyperprior import hyper_analysis, hyper_synthesis, interpolated_widths, quantize_bottleneck

__all__ = [
    "ChannelAR", "EntropyBottleneck", "hyper_analysis", "hyper_synthesis", "interpolated_widths",
    "quantize_bottleneck",
]
