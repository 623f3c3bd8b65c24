"""Named model configurations for training.

``paper`` is the published SegPIC (N=192, M=320, 10 slices with support 5), exactly the
reference.  ``small`` keeps every module and narrows it (N=48, M=64, 2 slices with support 1)
so that CPU training is practical; ``bench/perf/train_speed.py`` measures both.  The slice
transforms (224..32 hidden widths) and the last up-block (32 channels at full resolution) have
fixed widths in the reference, so they set a floor on the small model's step time.

Deviation in ``small``: the two prototype codecs scale with N and M
(``scaled_prototype_widths``; 24 and 16 code channels instead of 96 and 96).  With the
reference's fixed widths, 128x128 crops with 4x4 grid prototypes would carry 75% as many
prototype elements as y (3.8% in the paper's model at 256x256), so the mask and no-mask arms
would pay very different prototype rates.
"""
from __future__ import annotations

from typing import Dict

from torch import nn

from segpic.entropy.prototypes import scaled_prototype_widths
from segpic.zoo import model_class

ARCHS = ("segpic",)

MODEL_CONFIGS: Dict[str, Dict] = {
    "small": {"N": 48, "M": 64, "num_slices": 2, "max_support_slices": 1,
              "prototype_widths": [list(w) for w in scaled_prototype_widths(48, 64)]},
    "paper": {"N": 192, "M": 320, "num_slices": 10, "max_support_slices": 5},
}


def model_config(arch: str, name: str) -> Dict:
    """The checkpoint's ``config``: ``{"arch": arch, **constructor kwargs}``."""
    if arch not in ARCHS:
        raise ValueError(f"unknown architecture {arch!r} (choose from {', '.join(ARCHS)})")
    if name not in MODEL_CONFIGS:
        raise ValueError(f"unknown config {name!r} (choose from {', '.join(MODEL_CONFIGS)})")
    return {"arch": arch, **MODEL_CONFIGS[name]}


def build_model(config: Dict) -> nn.Module:
    """A freshly initialised model for a ``config`` made by :func:`model_config`."""
    kwargs = {k: v for k, v in config.items() if k != "arch"}
    return model_class(config["arch"])(**kwargs)
