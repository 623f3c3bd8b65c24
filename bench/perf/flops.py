"""Multiply-accumulates and parameters of the learned codecs' compress and decompress.

    python -m bench.perf.flops [--archs segpic stf wacnn] [--sizes 768x512 ...] [--write results/complexity.csv]
        [--gemm]

Counted by ``torch.utils.flop_counter.FlopCounterMode`` on the real ``compress`` and
``decompress`` of the default (paper) configurations with random weights: convolutions
(GDN's included), transposed convolutions, linear layers and attention matmuls; element-wise
operations are not counted. One MAC = 2 FLOPs. The kMAC/pixel figure is the one learned-
compression papers report (JPEG AI reports decoder kMAC/pixel); with this CPU's SGEMM
throughput it also bounds the time a GEMM-based implementation can reach: ``--gemm`` measures
it, single-threaded MKL SGEMM (as every GEMM runs inside the codec's deterministic inference,
one per band) at the shapes that carry SegPIC's work, in GFLOP/s (2 FLOPs per MAC).

Parameters: ``parameters`` is the model's total; ``encoder_parameters`` and
``decoder_parameters`` count those of the modules whose ``forward`` runs during ``compress``
and ``decompress`` (each module's own parameters, each module once; the entropy bottleneck's
density parameters are not used there: coding reads its CDF tables).

``--write FILE`` writes the table as CSV (:data:`COLUMNS`), one row per architecture and input
size: ``bench bdrate --complexity`` reads ``results/complexity.csv``, written by
``python -m bench.perf.flops --write results/complexity.csv``.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path
from typing import Dict, List

from tabulate import tabulate

from bench.perf.codec_speed import ARCHS, DEFAULT_ARCHS, _size, build_model

#: Columns of the complexity file.
COLUMNS = ("arch", "width", "height", "encoder_kmac_per_pixel", "decoder_kmac_per_pixel", "encoder_gmac",
           "decoder_gmac", "parameters", "encoder_parameters", "decoder_parameters", "torch")


def _modules_run(model, action) -> int:
    """Parameters of the modules whose forward runs during ``action()`` (each module once)."""
    ran = set()
    hooks = [m.register_forward_hook(lambda module, args, out: ran.add(module))
             for m in model.modules() if any(True for _ in m.parameters(recurse=False))]
    try:
        action()
    finally:
        for hook in hooks:
            hook.remove()
    return sum(p.numel() for m in ran for p in m.parameters(recurse=False))


def count(arch: str, width: int, height: int) -> Dict[str, object]:
    """One row of :data:`COLUMNS` for a width x height image (multiples of 64)."""
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
        enc_params = _modules_run(model, lambda: model.compress(x))
        dec_params = _modules_run(model, lambda: model.decompress(out["strings"], out["shape"]))
    pixels = width * height
    return {"arch": arch, "width": width, "height": height,
            "encoder_kmac_per_pixel": f"{enc / pixels / 1e3:.2f}", "decoder_kmac_per_pixel": f"{dec / pixels / 1e3:.2f}",
            "encoder_gmac": f"{enc / 1e9:.3f}", "decoder_gmac": f"{dec / 1e9:.3f}",
            "parameters": sum(p.numel() for p in model.parameters()), "encoder_parameters": enc_params,
            "decoder_parameters": dec_params, "torch": torch.__version__.split("+")[0]}


def read(path: Path) -> List[Dict[str, str]]:
    """The rows of a complexity file written by ``--write``."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and set(COLUMNS) - set(rows[0]):
        raise ValueError(f"{path} lacks the columns {', '.join(sorted(set(COLUMNS) - set(rows[0])))}")
    return rows


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
    from bench.results import atomic_write

    p = argparse.ArgumentParser(prog="python -m bench.perf.flops", description=__doc__.split("\n\n")[0])
    p.add_argument("--archs", nargs="+", choices=ARCHS, default=list(DEFAULT_ARCHS), metavar="ARCH")
    p.add_argument("--sizes", "--size", nargs="+", type=_size, default=[(768, 512)],
                   help="WIDTHxHEIGHT, multiples of 64 (default 768x512)")
    p.add_argument("--write", type=Path, metavar="FILE", help="also write the rows as CSV (results/complexity.csv)")
    p.add_argument("--gemm", action="store_true", help="also single-threaded SGEMM throughput at SegPIC's shapes")
    args = p.parse_args(argv)
    for w, h in args.sizes:
        if w % 64 or h % 64:
            print(f"flops: error: {w}x{h} is not a multiple of 64", file=sys.stderr)
            return 1
    rows = [count(arch, w, h) for arch in args.archs for w, h in args.sizes]
    print(tabulate([[r["arch"], f"{r['width']}x{r['height']}", r["encoder_gmac"], r["decoder_gmac"],
                     r["encoder_kmac_per_pixel"], r["decoder_kmac_per_pixel"], r["parameters"],
                     r["encoder_parameters"], r["decoder_parameters"]] for r in rows],
                   headers=["arch", "size", "compress GMAC", "decompress GMAC", "compress kMAC/px",
                            "decompress kMAC/px", "params", "enc params", "dec params"]))
    if args.write:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic_write(args.write, buf.getvalue())
        print(f"wrote {args.write}")
    if args.gemm:
        print()
        print(tabulate([[name, m, k, n, f"{g:.1f}"] for name, m, k, n, g in sgemm_gflops()],
                       headers=["single-threaded SGEMM", "M", "K", "N", "GFLOP/s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
