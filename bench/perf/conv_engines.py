"""How fast SegPIC's convolutions run on three engines, and how close each comes to SGEMM.

    python -m bench.perf.conv_engines [--size 768x512] [--runs 3] [--out results/perf/conv-engines.json]

Every ungrouped convolution and transposed convolution that one SegPIC ``compress`` and
``decompress`` of a ``--size`` image run (random weights, seed 0, as ``codec_speed``) is
recorded with its shapes and how often it runs; then each distinct shape is timed, one
thread, median of ``--runs``, on

- ``banded MKL``: ours, the codec's banded GEMMs (:mod:`segpic.ops.gemm_conv`) inside
  ``deterministic_inference``: what every stream is coded with;
- ``oneDNN bands``: oneDNN run single-threaded on the same bands of output rows, the
  thread-count-invariant use of oneDNN the speed issue proposed (convolutions only; its bits
  are compared with ours and with its own on 2 threads);
- ``oneDNN``: PyTorch's default convolution on the whole map, as the authors' code runs it.

Totals weight each shape by its count: seconds of convolution per encode + decode, and the
throughput in GMAC/s next to single-threaded MKL SGEMM's best on this machine
(:func:`bench.perf.flops.sgemm_gflops`). Convolutions carry most of SegPIC's MACs, so these
totals are the floor under the codec's time on each engine; the rest of a measured
``codec_speed`` time is element-wise work, attention, the RAT's dynamic convolution and rANS.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from tabulate import tabulate

from bench.perf.codec_speed import REFERENCE_ARCH, _machine, _size, build_model, test_image
from bench.results import atomic_write

ENGINES = ("banded MKL", "oneDNN bands", "oneDNN")


def record_convolutions(width: int, height: int) -> Counter:
    """Counter of (kind, input shape, weight shape, stride, padding, output_padding) over one
    SegPIC compress + decompress of a width x height image, ungrouped calls only."""
    import torch
    from torch.overrides import TorchFunctionMode

    from segpic.codec import rgb_to_tensor
    from segpic.ops.deterministic import convolution_arguments, deterministic_inference

    seen = Counter()

    class Recorder(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            b = convolution_arguments(func, args, kwargs)
            if b is not None and b["groups"] == 1:
                seen[("transpose" if b["transposed"] else "conv", tuple(b["input"].shape), tuple(b["weight"].shape),
                      _int(b["stride"]), _int(b["padding"]), _int(b.get("output_padding", 0)))] += 1
            return func(*args, **kwargs)

    torch.set_num_threads(1)
    model = build_model(REFERENCE_ARCH).eval()
    x = rgb_to_tensor(test_image(None, width, height))
    with deterministic_inference():
        model.update(force=True)
        with Recorder():
            out = model.compress(x)
            model.decompress(out["strings"], out["shape"])
    return seen


def _int(v) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def macs(key) -> int:
    """Multiply-accumulates of one call."""
    kind, (B, _, H, W), ws, stride, padding, _ = key
    if kind == "transpose":
        c_in, c_out, kh, kw = ws
        return B * c_in * c_out * kh * kw * H * W  # every input pixel meets every tap
    c_out, c_in, kh, kw = ws
    ho, wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    return B * c_out * c_in * kh * kw * ho * wo


def onednn_bands(x, w, b, stride: int, padding: int):
    """A convolution as oneDNN calls on our bands of output rows (gemm_conv.band_bounds), on
    the band pool: each band whole on one thread, oneDNN single-threaded in it."""
    import torch
    import torch.nn.functional as F

    from segpic.ops.gemm_conv import band_bounds
    from segpic.ops.threads import run_bands, single_threaded_aten

    kh = w.shape[2]
    xp = F.pad(x, (padding, padding, padding, padding))
    h_o = (xp.shape[2] - kh) // stride + 1
    w_o = (xp.shape[3] - w.shape[3]) // stride + 1
    out = torch.empty(x.shape[0], w.shape[0], h_o, w_o)
    bounds = band_bounds(h_o, xp.shape[3] // stride)

    def band(i):
        r0, r1 = bounds[i], bounds[i + 1]
        with single_threaded_aten():  # a band run in the caller's thread too
            out[:, :, r0:r1] = F.conv2d(xp[:, :, r0 * stride: (r1 - 1) * stride + kh], w, b, stride=stride)

    run_bands(band, range(len(bounds) - 1))
    return out


def _median_seconds(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_shapes(shapes: Counter, runs: int) -> list:
    """One dict per distinct shape: count, MACs, seconds per call on each engine, and whether
    oneDNN bands reproduce ours and their own 1-thread bits on 2 threads."""
    import torch
    import torch.nn.functional as F

    from segpic.ops.deterministic import deterministic_inference

    torch.manual_seed(0)
    rows = []
    for key, n in sorted(shapes.items(), key=lambda kv: -kv[1] * macs(kv[0])):
        kind, xs, ws, stride, padding, out_pad = key
        x, w = torch.randn(xs), torch.randn(ws) / (ws[1] * ws[2] * ws[3]) ** 0.5
        b = torch.randn(ws[0] if kind == "conv" else ws[1])
        if kind == "conv":
            native = lambda: F.conv2d(x, w, b, stride=stride, padding=padding)  # noqa: E731
        else:
            native = lambda: F.conv_transpose2d(x, w, b, stride=stride, padding=padding,  # noqa: E731
                                                output_padding=out_pad)
        row = {"kind": kind, "input": list(xs), "weight": list(ws), "stride": stride, "count": n, "macs": macs(key)}
        torch.set_num_threads(1)
        with deterministic_inference():
            row["banded MKL"] = _median_seconds(native, runs)
            ours = native()
        with torch.inference_mode(), torch.backends.mkldnn.flags(enabled=True):
            row["oneDNN"] = _median_seconds(native, runs)
            if kind == "conv":
                row["oneDNN bands"] = _median_seconds(lambda: onednn_bands(x, w, b, stride, padding), runs)
                one = onednn_bands(x, w, b, stride, padding)
                torch.set_num_threads(2)
                row["oneDNN bands: same bits on 2 threads"] = bool(torch.equal(one, onednn_bands(x, w, b, stride, padding)))
                row["oneDNN bands: same bits as ours"] = bool(torch.equal(one, ours))
                torch.set_num_threads(1)
        rows.append(row)
    return rows


def summarize(rows: list, peak_gmacs: float) -> list:
    """Per engine and kind of call: seconds per encode + decode (count-weighted), GMAC/s, and
    the share of single-threaded SGEMM's GMAC/s."""
    out = []
    for kind in ("conv", "transpose"):
        subset = [r for r in rows if r["kind"] == kind]
        mac = sum(r["count"] * r["macs"] for r in subset)
        for engine in ENGINES:
            if subset and all(engine in r for r in subset):
                secs = sum(r["count"] * r[engine] for r in subset)
                out.append({"engine": engine, "calls": kind, "seconds": secs, "gmac": mac / 1e9,
                            "gmac_per_s": mac / secs / 1e9, "of_sgemm": mac / secs / 1e9 / peak_gmacs})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf.conv_engines", description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=_size, default=(768, 512))
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path, help="write the rows and totals as JSON")
    args = p.parse_args(argv)

    from bench.perf.flops import sgemm_gflops

    shapes = record_convolutions(*args.size)
    rows = time_shapes(shapes, args.runs)
    peak = max(g for *_, g in sgemm_gflops()) / 2  # GFLOP/s -> GMAC/s
    totals = summarize(rows, peak)
    print(tabulate([[t["engine"], t["calls"], f"{t['seconds']:.2f}", f"{t['gmac']:.1f}", f"{t['gmac_per_s']:.1f}",
                     f"{100 * t['of_sgemm']:.0f}%"] for t in totals],
                   headers=["engine", "kind", "s per encode+decode", "GMAC", "GMAC/s", "of SGEMM peak"]))
    top = rows[:12]
    print(tabulate([[r["kind"], "x".join(map(str, r["input"][1:])), "x".join(map(str, r["weight"])), r["stride"],
                     r["count"], *(f"{r[e] * r['count']:.2f}" if e in r else "" for e in ENGINES)] for r in top],
                   headers=["kind", "input CxHxW", "weight", "stride", "calls", *(f"{e} s" for e in ENGINES)]))
    same2 = all(r.get("oneDNN bands: same bits on 2 threads", True) for r in rows)
    same_ours = sum(r.get("oneDNN bands: same bits as ours", False) for r in rows)
    machine = _machine()
    print(f"SegPIC {args.size[0]}x{args.size[1]}, 1 thread, median of {args.runs}; single-threaded SGEMM peak "
          f"{peak:.1f} GMAC/s; oneDNN bands: same bits on 2 threads as on 1: {'yes' if same2 else 'NO'}, "
          f"same bits as ours for {same_ours} of {sum(r['kind'] == 'conv' for r in rows)} shapes; "
          f"{machine['cpu']}, AVX-512 {'yes' if machine['avx512'] else 'no'}")
    if args.out:
        atomic_write(args.out, json.dumps({"size": list(args.size), "runs": args.runs, "sgemm_peak_gmac_per_s": peak,
                                           "machine": machine, "totals": totals, "shapes": rows},
                                          indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
