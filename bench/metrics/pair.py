"""One original and one decoded image, and the representations the metrics take of them."""
from __future__ import annotations

from functools import cached_property

import numpy as np

from bench.colour import rgb_planes_float, rgb_to_ycbcr


class Pair:
    """An original and a decoded ``H x W x 3`` uint8 RGB image of the same shape.

    Representations are computed once, when a metric first asks for them.
    """

    def __init__(self, original: np.ndarray, decoded: np.ndarray):
        if original.shape != decoded.shape or original.ndim != 3 or original.shape[2] != 3:
            raise ValueError(f"expected two H x W x 3 images of one shape, got {original.shape} and {decoded.shape}")
        self.original = original
        self.decoded = decoded

    @property
    def shape(self):
        return self.original.shape

    @cached_property
    def ycbcr(self):
        """(original, decoded): float64 planar (3, H, W) BT.709 full-range Y, Cb, Cr in [0, 1]."""
        return rgb_planes_float(self.original), rgb_planes_float(self.decoded)

    @cached_property
    def y8(self):
        """(original, decoded): uint8 (H, W) Y, BT.709 full range rounded to 8 bits."""
        return rgb_to_ycbcr(self.original, 8)[0], rgb_to_ycbcr(self.decoded, 8)[0]
