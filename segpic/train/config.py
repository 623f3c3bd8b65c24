"""Named model configurations for training.

``paper`` is the published SegPIC (N=192, M=320).  ``small`` keeps the architecture and
shrinks the channel widths so that CPU training is practical: see ``bench/perf/train_speed.py``
for its measured step time.
"""
from __future__ import annotations

from typing import Dict

from torch import nn

ARCHS = ("segpic",)

MODEL_CONFIGS: Dict[str, Dict[str, int]] = {
    "small": {"N": 48, "M": 80},
    "paper": {"N": 192, "M": 320},
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
    from segpic.models import SegPIC

    kwargs = {k: v for k, v in config.items() if k != "arch"}
    return SegPIC(**kwargs)
