"""Model definitions (CompressAI interface)."""
from .base import HyperpriorChannelAR, crop, pad_to_multiple
from .segpic import SegPIC
from .wacnn import WACNN

__all__ = ["HyperpriorChannelAR", "SegPIC", "WACNN", "crop", "pad_to_multiple"]
