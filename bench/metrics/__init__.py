"""The quality metrics ``bench`` can compute: one registry, one module per family.

========== ================================== ======================================= ==========
name       columns of per_image.csv           definition (module)                     BD on
========== ================================== ======================================= ==========
psnr       psnr_rgb                           PSNR over R, G, B (:mod:`.rgb`)          dB
ms-ssim    ms_ssim_rgb, ms_ssim_db            MS-SSIM on RGB (:mod:`.rgb`)             dB
psnr-yuv   psnr_y, psnr_cb, psnr_cr, psnr_yuv PSNR per YCbCr plane, (6Y+Cb+Cr)/8       psnr_yuv
vmaf       vmaf                               libvmaf v0.6.1 on Y (:mod:`.vmaf`)       score
vif        vif                                VIFp on Y (:mod:`.luma`)                 value
fsim       fsim                               FSIMc on RGB (:mod:`.rgb`)               value
nlpd       nlpd                               NLPD on Y (:mod:`.luma`)                 -nlpd
iw-ssim    iw_ssim                            IW-SSIM on Y (:mod:`.luma`)              value
psnr-hvs-m psnr_hvs_m                         PSNR-HVS-M on Y (:mod:`.luma`)           dB
========== ================================== ======================================= ==========

Y, Cb and Cr are BT.709 full range, computed from the 8-bit RGB in float64 without rounding
(:func:`bench.colour.rgb_planes_float`), except VMAF, which takes integer samples: Y rounded
to 8 bits (:func:`bench.colour.rgb_to_ycbcr`).  The README's "Metrics" section gives each
definition, the implementation, its cross-check and its cost.

:func:`compute` measures chosen metrics of one decoded image; :data:`REGISTRY` names them, and
:func:`bd_values` turns a stored column into the quantity BD-rate integrates (higher = better).
"""
from __future__ import annotations

import importlib
import importlib.util
import math
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .pair import Pair
from .rgb import MS_SSIM_MIN_SIDE, Quality, measure, ms_ssim_rgb, psnr_rgb, to_db

__all__ = ["Metric", "REGISTRY", "DEFAULT", "Pair", "compute", "parse", "columns_of", "bd_values",
           "MS_SSIM_MIN_SIDE", "Quality", "measure", "ms_ssim_rgb", "psnr_rgb", "to_db"]


@dataclass(frozen=True)
class Metric:
    """One selectable metric.

    Attributes:
        name: the command-line name (``vmaf``).
        label: the display name (``VMAF``).
        columns: the per_image.csv columns it fills, in order.
        json_keys: the CompressAI-format JSON key of each column.
        bd_column: the column BD-rate uses.
        unit: unit of the BD quantity (``dB``, or ``""``).
        min_side: the smallest image side it is defined for (pixels); smaller gives NaN.
        function: ``(Pair) -> {column: value}``, imported on first use (``module:function``).
        bd: how ``bd_column`` becomes the BD quantity: ``"identity"``, ``"db"`` (-10 log10(1 - v),
            for MS-SSIM) or ``"negate"`` (NLPD, where lower is better).
        requires: the modules of the ``metrics`` extra it imports.
    """

    name: str
    label: str
    columns: Tuple[str, ...]
    json_keys: Tuple[str, ...]
    bd_column: str
    unit: str
    min_side: int
    function: str
    bd: str = "identity"
    requires: Tuple[str, ...] = ()

    def compute(self, pair: Pair) -> Dict[str, float]:
        """``{column: value}`` for one image pair; NaN for every column when the image is smaller
        than :attr:`min_side` (the reason is in :meth:`undefined_reason`)."""
        if self.undefined_reason(pair.shape):
            return {c: math.nan for c in self.columns}
        module, function = self.function.split(":")
        values = getattr(importlib.import_module(f"{__name__}.{module}"), function)(pair)
        return {c: float(values[c]) for c in self.columns}

    def undefined_reason(self, shape: Sequence[int]) -> str:
        """Why the metric is undefined for an ``H x W (x C)`` image, or ``""``."""
        height, width = shape[:2]
        if min(height, width) < self.min_side:
            return f"{self.label} undefined for {width}x{height} (both sides must be >= {self.min_side} px)"
        return ""


REGISTRY: Dict[str, Metric] = {m.name: m for m in (
    Metric("psnr", "PSNR-RGB", ("psnr_rgb",), ("psnr-rgb",), "psnr_rgb", "dB", 1, "rgb:psnr"),
    Metric("ms-ssim", "MS-SSIM-RGB", ("ms_ssim_rgb", "ms_ssim_db"), ("ms-ssim-rgb", "ms-ssim-rgb-db"),
           "ms_ssim_rgb", "dB", MS_SSIM_MIN_SIDE, "rgb:ms_ssim", bd="db"),
    Metric("psnr-yuv", "PSNR-YUV", ("psnr_y", "psnr_cb", "psnr_cr", "psnr_yuv"),
           ("psnr-y", "psnr-cb", "psnr-cr", "psnr-yuv"), "psnr_yuv", "dB", 1, "luma:psnr_yuv"),
    Metric("vmaf", "VMAF", ("vmaf",), ("vmaf",), "vmaf", "", 17, "vmaf:vmaf"),
    Metric("vif", "VIFp", ("vif",), ("vif",), "vif", "", 41, "luma:vif", requires=("piq",)),
    Metric("fsim", "FSIM", ("fsim",), ("fsim",), "fsim", "", 2, "rgb:fsim", requires=("piq",)),
    Metric("nlpd", "NLPD", ("nlpd",), ("nlpd",), "nlpd", "", 96, "luma:nlpd", bd="negate",
           requires=("IQA_pytorch",)),
    Metric("iw-ssim", "IW-SSIM", ("iw_ssim",), ("iw-ssim",), "iw_ssim", "", 161, "luma:iw_ssim",
           requires=("piq",)),
    Metric("psnr-hvs-m", "PSNR-HVS-M", ("psnr_hvs_m",), ("psnr-hvs-m",), "psnr_hvs_m", "dB", 8,
           "luma:psnr_hvs_m", requires=("psnr_hvsm",)),
)}

#: What ``bench run`` computes without ``--metrics``.
DEFAULT = ("psnr", "ms-ssim")


def parse(names: Optional[Iterable[str]]) -> List[Metric]:
    """Metrics by name, in registry order; ``None`` gives :data:`DEFAULT`, ``all`` every one.
    Raises ValueError naming an unknown one, or one whose package (the ``metrics`` extra) is
    not installed."""
    names = list(DEFAULT if names is None else names)
    if "all" in names:
        names = list(REGISTRY)
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown metric {', '.join(unknown)} (choose from {', '.join(REGISTRY)}, all)")
    chosen = [m for m in REGISTRY.values() if m.name in names]
    lacking = sorted({module for m in chosen for module in m.requires if importlib.util.find_spec(module) is None})
    if lacking:
        raise ValueError(f"{', '.join(m.name for m in chosen if set(m.requires) & set(lacking))} need "
                         f"{', '.join(lacking)}: pip install 'segpic-bench[metrics]'")
    return chosen


def columns_of(metrics: Iterable[Metric]) -> Tuple[str, ...]:
    """Every column the metrics fill, in order."""
    return tuple(c for m in metrics for c in m.columns)


def compute(original: np.ndarray, decoded: np.ndarray, metrics: Sequence[Metric]) -> Tuple[Dict[str, float], List[str]]:
    """The chosen metrics of ``decoded`` against ``original`` (both ``H x W x 3`` uint8).

    Returns ({column: value}, notes): a metric undefined at this size gives NaN and a note."""
    if original.shape != decoded.shape:
        raise ValueError(f"decoded shape {decoded.shape} differs from the original's {original.shape}")
    pair = Pair(original, decoded)
    values: Dict[str, float] = {}
    notes = []
    for metric in metrics:
        values.update(metric.compute(pair))
        reason = metric.undefined_reason(original.shape)
        if reason:
            notes.append(reason)
    return values, notes


def bd_values(values, metric: str) -> np.ndarray:
    """The BD quantity (higher = better) of stored ``bd_column`` values of ``metric``."""
    kind = REGISTRY[metric].bd
    values = np.asarray(values, dtype=np.float64)
    if kind == "db":
        with np.errstate(divide="ignore", invalid="ignore"):
            return -10.0 * np.log10(1.0 - values)
    if kind == "negate":
        return -values
    return values
