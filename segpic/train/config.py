"""Named model configurations for training: the registry entries' ``configs``.

Every registry entry that trains has ``paper`` (the published size) and ``small`` (CPU
training).  ``paper`` is the published SegPIC (N=192, M=320, 10 slices with support 5), exactly the
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

from segpic import registry
from segpic.zoo import model_class

#: The architectures ``segpic train --arch`` accepts.
ARCHS = registry.trainable()
#: Configuration names offered by ``--config`` (every trainable entry has them).
CONFIG_NAMES = ("paper", "small")


def model_config(arch: str, name: str) -> Dict:
    """The checkpoint's ``config``: ``{"arch": arch, **constructor kwargs}``."""
    if arch not in registry.trainable():
        raise ValueError(f"unknown architecture {arch!r} (choose from {', '.join(registry.trainable())})")
    configs = registry.get(arch).configs
    if name not in configs:
        raise ValueError(f"unknown config {name!r} for {arch} (choose from {', '.join(configs)})")
    return {"arch": arch, **configs[name]}


def build_model(config: Dict) -> nn.Module:
    """A freshly initialised model for a ``config`` made by :func:`model_config`."""
    kwargs = {k: v for k, v in config.items() if k != "arch"}
    return model_class(config["arch"])(**kwargs)
