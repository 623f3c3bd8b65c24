"""Multiply-accumulates of the learned codecs' compress and decompress, per image and per pixel.

    python -m bench.perf.flops [--archs segpic stf wacnn] [--size 768x512] [--gemm]

Counted by ``torch.utils.flop_counter.FlopCounterMode`` on the real ``compress`` and
``decompress`` of the default (paper) configurations with random weights: convolutions
(GDN's included), transposed convolutions, linear layers and attention matmuls; element-wise
operations are not counted. One MAC = 2 FLOPs. The kMAC/pixel figure is the one learned-
compression papers report; with this CPU's SGEMM throughput it also bounds the time a
GEMM-based implementation can reach: ``--gemm`` measures it, single-threaded MKL SGEMM (as
every GEMM runs inside the codec's deterministic inference, one per band) at the shapes that
carry SegPIC's work, in GFLOP/s (2 FLOPs per MAC).
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


# (name, M, K, N) of C (M x N) = A (M x K) B (K x N), the shapes one band multiplies
GEMM_SHAPES = (
    ("5x5 conv tap, 1/4 scale band", 192, 192, 4096),
    ("1x1 conv, 1/4 scale band", 192, 192, 4096),
    ("3x3 conv tap, 1/16 scale band (slice transform)", 224, 320, 400),
    ("attention qkv, band of tokens", 4096, 192, 576),
    ("RU 1x1 conv, 1/16 scale band", 160, 320, 400),
)


def sgemm_gflops(seconds: float = 1.0) -> list:
    """[(name, M, K, N, GFLOP/s)] of single-threaded MKL SGEMM at GEMM_SHAPES, the best of
    repeated timings over about ``seconds`` each."""
    import time

    import torch

    from segpic.ops.threads import single_threaded_mkl

    rows = []
    with single_threaded_mkl(), torch.inference_mode():
        for name, m, k, n in GEMM_SHAPES:
            a, b, c = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)
            torch.mm(a, b, out=c)
            best, t_end = float("inf"), time.perf_counter() + seconds
            while time.perf_counter() < t_end:
                t0 = time.perf_counter()
                for _ in range(5):
                    torch.mm(a, b, out=c)
                best = min(best, (time.perf_counter() - t0) / 5)
            rows.append((name, m, k, n, 2 * m * k * n / best / 1e9))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf.flops", description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", nargs="+", choices=ARCHS, default=list(DEFAULT_ARCHS), metavar="ARCH")
    p.add_argument("--size", type=_size, default=(768, 512), help="WIDTHxHEIGHT, multiples of 64")
    p.add_argument("--gemm", action="store_true", help="also single-threaded SGEMM throughput at SegPIC's shapes")
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
    if args.gemm:
        print()
        print(tabulate([[name, m, k, n, f"{g:.1f}"] for name, m, k, n, g in sgemm_gflops()],
                       headers=["single-threaded SGEMM", "M", "K", "N", "GFLOP/s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
