"""Seconds per image of each quality metric (README: Metrics, "Cost").

    python -m bench.perf.metric_cost [--images kodim01 kodim08 kodim15 kodim23] [--data-root DIR]

For each image, its JPEG at quality 10 (Pillow) is the decoded image; each registered metric is
computed once to warm up (imports, first-call set-up) and then timed once per image, in this
process with one torch thread.  Reported per metric: the median over the images of the CPU
seconds (this process plus child processes: VMAF runs in ffmpeg) and of the wall-clock seconds,
and the load average when the run ended, since on a shared machine wall time grows with it.
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import statistics
import sys
import time

import numpy as np
from tabulate import tabulate


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv=None) -> int:
    import torch
    from PIL import Image

    from bench import datasets
    from bench.metrics import REGISTRY, Pair

    parser = argparse.ArgumentParser(prog="python -m bench.perf.metric_cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", nargs="+", default=["kodim01", "kodim08", "kodim15", "kodim23"])
    parser.add_argument("--data-root", help="data folder holding kodak/ (default: $SEGPIC_DATA ...)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    folder = datasets.data_root(args.data_root) / "kodak"
    pairs = []
    for name in args.images:
        original = np.asarray(Image.open(folder / f"{name}.png").convert("RGB"))
        buf = io.BytesIO()
        Image.fromarray(original).save(buf, "JPEG", quality=10)
        pairs.append(Pair(original, np.asarray(Image.open(buf).convert("RGB"))))
    for metric in REGISTRY.values():
        metric.compute(Pair(pairs[0].original, pairs[0].decoded))
    rows = []
    for metric in REGISTRY.values():
        cpu, wall = [], []
        for pair in pairs:
            fresh = Pair(pair.original, pair.decoded)  # colour conversion counted in each metric
            c, w = _cpu(), time.perf_counter()
            metric.compute(fresh)
            cpu.append(_cpu() - c)
            wall.append(time.perf_counter() - w)
        rows.append([metric.name, f"{statistics.median(cpu):.3f}", f"{statistics.median(wall):.3f}"])
    print(tabulate(rows, headers=["metric", "CPU s / image (median)", "wall s / image (median)"]))
    print(f"{len(pairs)} Kodak images ({', '.join(args.images)}), 1 torch thread; load average at the end: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
