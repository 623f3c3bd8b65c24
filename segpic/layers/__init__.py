"""Network layers shared by SegPIC, WACNN and STF."""
from .rat import RegionAdaptiveTransform, dps_conv
from .sal import DownSAL, ScaleAffine, UpSAL
from .wam import WAM, ResidualUnit, SwinAttention
from .window_attention import WindowAttention, shifted_window_mask, window_partition, window_reverse

__all__ = [
    "DownSAL", "RegionAdaptiveTransform", "ResidualUnit", "ScaleAffine", "SwinAttention", "UpSAL",
    "WAM", "WindowAttention", "dps_conv", "shifted_window_mask", "window_partition", "window_reverse",
]
