"""The machine a result was measured on: what a number depends on besides the code.

Learned codecs' streams and pixels are portable (``segpic.ops.deterministic``); timings,
classical codecs' SIMD paths and float summaries are not, so every result row says where it
came from: CPU model, the ISA level ATen runs (and the CPU's best), torch threads, torch and
MKL versions.
"""
from __future__ import annotations

import functools
import platform
import re
from pathlib import Path
from typing import Dict

import torch

__all__ = ["machine", "describe"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_best_isa() -> str:
    """The widest x86 vector extension the CPU reports (avx512, avx2, avx, or sse)."""
    try:
        flags = re.search(r"^flags\s*:(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1).split()
    except (OSError, AttributeError):
        return "unknown"
    for isa, flag in (("avx512", "avx512f"), ("avx2", "avx2"), ("avx", "avx")):
        if flag in flags:
            return isa
    return "sse"


def _mkl_version() -> str:
    found = re.search(r"Math Kernel Library Version ([\w.\-]+)", torch.__config__.show())
    return found.group(1) if found else "none"


@functools.lru_cache(maxsize=None)
def _static() -> Dict[str, str]:
    return {"cpu": _cpu_model(), "cpu_isa": _cpu_best_isa(), "torch": torch.__version__, "mkl": _mkl_version()}


def machine() -> Dict[str, str]:
    """``{cpu, isa, cpu_isa, threads, torch, mkl}``: ``isa`` is the ATen kernel level in use
    (AVX2 for exact coding), ``cpu_isa`` the best the CPU offers, ``threads`` torch's count."""
    info = dict(_static())
    info["isa"] = torch.backends.cpu.get_cpu_capability().lower()
    info["threads"] = str(torch.get_num_threads())
    return {k: info[k] for k in ("cpu", "isa", "cpu_isa", "threads", "torch", "mkl")}


def describe(info: Dict[str, str] | None = None) -> str:
    """One line for a CSV cell or a message, e.g.
    ``AMD EPYC; isa avx2 (cpu avx2); 2 threads; torch 2.14.1+cu130; MKL 2024.2-Product``."""
    m = info or machine()
    return (f"{m['cpu']}; isa {m['isa']} (cpu {m['cpu_isa']}); {m['threads']} threads; "
            f"torch {m['torch']}; MKL {m['mkl']}")
