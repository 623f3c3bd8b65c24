"""Model definitions (CompressAI interface)."""
from .base import HyperpriorChannelAR, crop, pad_to_multiple
from .wacnn import WACNN

__all__ = ["HyperpriorChannelAR", "WACNN", "crop", "pad_to_multiple"]
