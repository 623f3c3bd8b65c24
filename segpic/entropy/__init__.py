"""Entropy models: the channel-wise AR latent model, hyperprior builders, prototype codecs."""
from .channel_ar import ChannelAR
from .hyperprior import hyper_analysis, hyper_synthesis, interpolated_widths, quantize_bottleneck

__all__ = ["ChannelAR", "hyper_analysis", "hyper_synthesis", "interpolated_widths", "quantize_bottleneck"]
