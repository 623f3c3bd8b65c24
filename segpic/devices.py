"""Torch devices named on the command line: ``cpu``, ``cuda`` or ``cuda:N``.

Streams are reproducible on one kind of device, not across CPU and GPU (README, Known
limits): decode on the kind of device that encoded.  :func:`kind` is what ``bench run``
records in each result row's ``device`` column.
"""
from __future__ import annotations

import re

_PATTERN = re.compile(r"cpu|cuda(:\d+)?")


class DeviceUnavailable(RuntimeError):
    """The device asked for is not there (no GPU, or fewer GPUs).  The message is one line."""


def parse_device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` (N a GPU index), else ValueError."""
    if not _PATTERN.fullmatch(text or ""):
        raise ValueError(f"device '{text}': expected cpu, cuda or cuda:N")
    return text


def kind(device: str) -> str:
    """``"cpu"`` or ``"cuda"``: the kind of device ``device`` names."""
    return device.split(":")[0] if device else "cpu"


def require(device: str) -> None:
    """Raise :class:`DeviceUnavailable` unless PyTorch can use ``device`` in this process."""
    if kind(device) == "cpu":
        return
    import torch

    if not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise DeviceUnavailable(f"--device {device}: PyTorch sees no CUDA GPU here (torch {torch.__version__}, "
                                f"{build}); use --device cpu")
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise DeviceUnavailable(f"--device {device}: there are {torch.cuda.device_count()} CUDA GPU(s) here "
                                f"(indices 0..{torch.cuda.device_count() - 1})")
