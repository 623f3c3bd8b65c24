"""Deterministic test weights for the learned codecs of the golden regression set.

    python -m bench.golden_weights [--out results/golden/checkpoints]

These checkpoints are NOT trained and are not the paper's weights: their reconstructions are
noise (PSNR about 7 dB).  They exist so that ``python -m bench regress`` runs SegPIC, STF and
WACNN end to end (analysis, hyperprior, ChARM slices with support, latent residual
prediction, SegPIC's prototypes, rANS coding including the bypass of out-of-range symbols,
synthesis, container) and catches any change in their bitstreams or reconstructions.

Rule (the idea of shared/conformance/weights_rule.py, applied to our own key names).  Every
``weight`` and ``bias``, every attention ``relative_position_bias_table`` and every
entropy-bottleneck ``biases.K`` is drawn by ``torch.Generator`` seeded from the CRC-32 of its
*canonical key* and the seed:

    weights of >= 2 dims   U(-g / sqrt(fan_in), g / sqrt(fan_in)),  g = the rate point's gain
    1-d weights (LayerNorm) 1 + U(-0.1, 0.1)
    biases                  U(-0.05, 0.05)
    relative position bias  N(0, 0.02^2)
    bottleneck biases       U(-0.5, 0.5)

Everything else (GDN beta/gamma, bottleneck matrices, factors and quantiles, index buffers)
keeps the constructor's deterministic initial value.  The canonical key of a ChARM transform
layer drops its family and slice (``cc_mean_transforms.1.2.weight`` ->
``slice_transform.2.weight``) and adds the shape, so the 3 x S slice transforms share one
tensor per layer shape; ``torch.save`` stores a shared tensor once, and generated tensors are
stored as float16 (the model loads them as float32, exactly).  Both keep each file at a few
MB although the slice transforms have fixed widths of 224..64 channels.

The two rate points of an architecture are the same rule with gains 1.6 and 2.0: a larger
gain keeps the latents further from zero, so the second point spends more bits.
"""
from __future__ import annotations

import argparse
import io
import math
import os
import re
import sys
import tempfile
import zlib
from pathlib import Path
from typing import Dict, List, Sequence

import torch
from tqdm import tqdm

from segpic import registry

#: The small configurations: constructor kwargs of the regression set's architectures, their
#: registry ``test_config`` (for the SegPIC family: M = 32 latent channels in two slices of 16,
#: the second conditioned on the first).
CONFIGS: Dict[str, dict] = {name: dict(registry.get(name).test_config) for name in registry.golden()}
#: Weight gain g of each rate point (quality 1, 2).
GAINS = (1.6, 2.0)
SEED = 2024
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "results" / "golden" / "checkpoints"

_SLICE_TRANSFORM = re.compile(r"^(cc_mean_transforms|cc_scale_transforms|lrp_transforms)\.\d+\.")


def checkpoint_path(folder: Path, arch: str, quality: int) -> Path:
    """``<folder>/<arch>-q<quality>.pth``."""
    return Path(folder) / f"{arch}-q{quality}.pth"


def canonical_key(key: str, shape: Sequence[int]) -> str:
    """The name a tensor's values are drawn under (see the module docstring)."""
    return f"{_SLICE_TRANSFORM.sub('slice_transform.', key)}{tuple(shape)}"


def is_generated(key: str) -> bool:
    """Whether the rule draws this state_dict entry (else the constructor's value is kept)."""
    leaf = key.rsplit(".", 1)[-1]
    if "entropy_bottleneck" in key:
        return ".biases." in key
    return leaf in ("weight", "bias", "relative_position_bias_table")


def draw(key: str, shape: Sequence[int], gain: float, seed: int = SEED) -> torch.Tensor:
    """The rule's float32 tensor for ``key`` (a canonical key) of ``shape``."""
    generator = torch.Generator().manual_seed((zlib.crc32(key.encode()) + 7919 * seed) % 2**63)
    shape = tuple(shape)
    name = key.split("(", 1)[0]
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "relative_position_bias_table":
        return torch.randn(shape, generator=generator) * 0.02
    uniform = torch.rand(shape, generator=generator) * 2 - 1  # U(-1, 1)
    if "entropy_bottleneck" in name:
        return uniform * 0.5
    if leaf == "weight" and len(shape) >= 2:
        return uniform * (gain / math.sqrt(math.prod(shape[1:])))
    if leaf == "weight":
        return 1.0 + uniform * 0.1
    return uniform * 0.05


def state_dict(arch: str, gain: float, seed: int = SEED) -> Dict[str, torch.Tensor]:
    """The test weights of ``arch`` (small configuration) at weight gain ``gain``.

    Generated tensors are float16, one object per canonical key; the others are the
    constructor's.
    """
    from segpic.zoo import model_class

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the constructor's own random init is overwritten anyway
        initial = model_class(arch)(**CONFIGS[arch]).state_dict()
    drawn: Dict[str, torch.Tensor] = {}
    out = {}
    for key, value in initial.items():
        if not is_generated(key):
            out[key] = value
            continue
        canonical = canonical_key(key, value.shape)
        if canonical not in drawn:
            drawn[canonical] = draw(canonical, value.shape, gain, seed).to(torch.float16)
        out[key] = drawn[canonical]
    return out


def checkpoint(arch: str, quality: int) -> dict:
    """The checkpoint of rate point ``quality`` (1-based) in the project's format."""
    return {"model": state_dict(arch, GAINS[quality - 1]), "config": {"arch": arch, **CONFIGS[arch]}}


def save(obj, path: Path) -> None:
    """``torch.save`` through a temp file in the same folder and ``os.replace``."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getvalue())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def make_checkpoints(folder: Path, quiet: bool = False) -> List[Path]:
    """Write every architecture's checkpoints into ``folder``; returns their paths."""
    jobs = [(arch, q) for arch in CONFIGS for q in range(1, len(GAINS) + 1)]
    paths = []
    for arch, quality in tqdm(jobs, desc="test weights", disable=quiet):
        path = checkpoint_path(folder, arch, quality)
        save(checkpoint(arch, quality), path)
        paths.append(path)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.golden_weights",
                                     description="write the golden set's deterministic test checkpoints")
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR,
                        help=f"folder for <arch>-q<quality>.pth (default: {DEFAULT_DIR})")
    args = parser.parse_args(argv)
    try:
        paths = make_checkpoints(args.out)
    except OSError as err:
        print(f"error: cannot write checkpoints: {err.strerror or err}: {err.filename or args.out}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
