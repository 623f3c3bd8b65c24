"""How close the encoder's scales come to the scale table's bin edges, on real images.

    python -m bench.perf.edge_margins [--data-root DIR] [--images 24] [--out margins.json]

A decoder recomputes each latent's scale and picks its CDF by the bin of the scale table the
scale falls in; a scale within a tiny relative distance of a bin edge is where an arithmetic
difference between encoder and decoder would pick another CDF and misdecode. (Means need no
margin: the decoder adds its mean to a decoded symbol and never rounds again.) The codec
rules the difference out by making the arithmetic identical (``segpic.ops.deterministic``);
this script measures how much margin real images leave, for the record:

- for every scale passed to ``GaussianConditional.build_indexes`` while coding the Kodak
  images with the golden test checkpoints (segpic, stf, wacnn, rate point 2), its relative
  distance ``|s / e - 1|`` to the nearest bin edge ``e`` (the table's values);
- the size of an arithmetic difference: the same streams decoded in two processes, one with
  ATen's AVX2 kernels and one with its portable C++ kernels (``ATEN_CPU_CAPABILITY=default``,
  another rounding of GELU, exp and sums), compared on the first slice's scales (a function
  of the decoded hyper-latent alone, which the kernels do not change);
- how many scales lie within that difference of an edge: those would have been at risk had
  the decoder's kernels not been pinned.

The golden checkpoints are not trained (their scales are not a trained model's); the numbers
say how often edges are met by real images through these networks, not by the paper's models.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from segpic import registry

#: The regression set's SegPIC-family architectures (their golden checkpoints, channel-wise model).
ARCHS = tuple(n for n in registry.golden() if registry.get(n).family == "segpic")


def _recording_scales():
    """Patch ``GaussianConditional.build_indexes`` to record its scales; returns (seen, tables, undo)."""
    from compressai.entropy_models import GaussianConditional

    seen, tables, original = [], [], GaussianConditional.build_indexes

    def recording(self, scales):
        seen.append(scales.detach().double().flatten().numpy().copy())
        tables.append(self.scale_table.double().numpy())
        return original(self, scales)

    GaussianConditional.build_indexes = recording
    return seen, tables, lambda: setattr(GaussianConditional, "build_indexes", original)


def _codec(arch: str):
    import torch

    from bench.golden_streams import golden_codec

    torch.set_num_threads(1)
    return golden_codec(arch)


def _encode_all(arch: str, images, folder: Path):
    """Encode every image (streams written to ``folder``); every scale of every slice, and the table."""
    from bench.images import load_rgb

    codec = _codec(arch)
    seen, tables, undo = _recording_scales()
    try:
        for i, path in enumerate(images):
            (folder / f"{arch}-{i}.sgp").write_bytes(codec.encode(load_rgb(Path(path)).rgb))
    finally:
        undo()
    return np.concatenate(seen), tables[0]


def _margins(scales: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Relative distance of each raw scale to the nearest bin edge (the lower bound, table[0],
    is the edge of the scales below it)."""
    i = np.clip(np.searchsorted(table, scales), 1, len(table) - 1)
    return np.minimum(np.abs(scales / table[i - 1] - 1), np.abs(scales / table[i] - 1))


def _child(arch: str, folder: str, count: int, out: str) -> None:
    """Decode the parent's streams; save the first slice's scales of each (a function of the
    decoded hyper-latent alone, which does not depend on the kernels)."""
    from segpic.ops import deterministic

    # the point of this child is to run other kernels than the codec allows: lift its refusal
    deterministic.check_capability = lambda: None
    codec = _codec(arch)
    seen, _, undo = _recording_scales()
    first = []
    try:
        for i in range(count):
            seen.clear()
            codec.decode((Path(folder) / f"{arch}-{i}.sgp").read_bytes())
            first.append(seen[0])
    finally:
        undo()
    np.savez(out, *first)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf.edge_margins", description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=os.environ.get("SEGPIC_DATA"), help="folder holding kodak/")
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        arch, folder, count, out = args.child
        _child(arch, folder, int(count), out)
        return 0
    images = sorted((Path(args.data_root) / "kodak").glob("kodim*.png"))[: args.images]
    report = {}
    with tempfile.TemporaryDirectory(prefix="edge-margins-") as tmp:
        for arch in ARCHS:
            scales, table = _encode_all(arch, images, Path(tmp))
            margins = _margins(scales, table)
            firsts = []
            for capability in ("avx2", "default"):
                out = str(Path(tmp) / f"{arch}-{capability}.npz")
                env = {**os.environ, "ATEN_CPU_CAPABILITY": capability}
                subprocess.run([sys.executable, "-m", "bench.perf.edge_margins", "--child", arch, tmp,
                                str(len(images)), out], check=True, env=env, capture_output=True)
                firsts.append(np.load(out))
            # on the scales the decoder uses (raised to the table's lower bound)
            rel = np.concatenate([np.abs(np.maximum(firsts[1][k], table[0]) / np.maximum(firsts[0][k], table[0]) - 1)
                                  for k in firsts[0].files])
            delta = float(rel.max())
            report[arch] = {
                "scales": int(scales.size),
                "below_table": int((scales < table[0]).sum()),
                "median_margin": float(np.median(margins)),
                "within_1e-5": int((margins < 1e-5).sum()),
                "within_1e-6": int((margins < 1e-6).sum()),
                "kernel_difference_max_rel": delta,
                "kernel_difference_median_rel": float(np.median(rel)),
                "at_risk": int((margins <= delta).sum()),
            }
            print(arch, json.dumps(report[arch]), flush=True)
    if args.out:
        args.out.write_text(json.dumps({"images": len(images), "per_arch": report}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
