"""Multiply-accumulates of the learned codecs' compress and decompress, per image and per pixel.

    python -m bench.perf.flops [--archs segpic stf wacnn] [--size 768x512]

Counted by ``torch.utils.flop_counter.FlopCounterMode`` on the real ``compress`` and
``decompress`` of the default (paper) configurations with random weights: convolutions
(GDN's included), transposed convolutions, linear layers and attention matmuls; element-wise
operations are not counted. One MAC = 2 FLOPs. The kMAC/pixel figure is the one learned-
compression papers report; with this CPU's SGEMM throughput it also bounds the time a
GEMM-based implementation can reach.
"""
from __future__ import annotations

import argparse
import sys

from tabulate import tabulate

from bench.perf.codec_speed import ARCHS, DEFAULT_ARCHS, _size, build_model


def count_macs(arch: str, width: int, height: int) -> tuple:
    """(compress MACs, decompress MACs) for one width x height image (a multiple of 64)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    model = build_model(arch).eval()
    x = torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.update(force=True)
        counter = FlopCounterMode(display=False)
        with counter:
            out = model.compress(x)
        enc = counter.get_total_flops() // 2
        counter = FlopCounterMode(display=False)
        with counter:
            model.decompress(out["strings"], out["shape"])
        dec = counter.get_total_flops() // 2
    return enc, dec


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf.flops", description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", nargs="+", choices=ARCHS, default=list(DEFAULT_ARCHS), metavar="ARCH")
    p.add_argument("--size", type=_size, default=(768, 512), help="WIDTHxHEIGHT, multiples of 64")
    args = p.parse_args(argv)
    w, h = args.size
    if w % 64 or h % 64:
        print(f"flops: error: {w}x{h} is not a multiple of 64", file=sys.stderr)
        return 1
    rows = []
    for arch in args.archs:
        enc, dec = count_macs(arch, w, h)
        rows.append([arch, f"{w}x{h}", f"{enc / 1e9:.1f}", f"{dec / 1e9:.1f}",
                     f"{enc / (w * h) / 1e3:.0f}", f"{dec / (w * h) / 1e3:.0f}"])
    print(tabulate(rows, headers=["arch", "size", "compress GMAC", "decompress GMAC",
                                  "compress kMAC/px", "decompress kMAC/px"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
