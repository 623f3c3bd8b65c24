"""Network layers shared by SegPIC, WACNN and STF."""
from .window_attention import WindowAttention, shifted_window_mask, window_partition, window_reverse

__all__ = ["WindowAttention", "shifted_window_mask", "window_partition", "window_reverse"]
