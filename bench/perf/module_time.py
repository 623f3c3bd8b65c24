"""Where SegPIC's coding time goes: seconds per top-level module, ours against the reference's
formulation, in one process.

    python -m bench.perf.module_time [--image PNG] [--size 768x512] [--threads 2] [--runs 3]

Forward hooks time each top-level module of ``compress`` and ``decompress`` (g_a1.0 is the
first down-block, cc_mean_transforms all slices' mean transforms, and so on); "rest" is the
time outside them (prototype codecs, rANS, padding). Ours runs inside the codec's
deterministic inference, the reference formulation (bench.perf.reference_segpic) under
``torch.no_grad()`` with oneDNN; the two alternate run by run and the median per module is
reported. Random weights (seed 0), as codec_speed.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict

from tabulate import tabulate

from bench.perf.codec_speed import REFERENCE_ARCH, _size, build_model, test_image

MODULES = ("g_a1", "g_a2", "g_s0", "g_s1", "h_a", "h_mean_s", "h_scale_s", "dyn_encoder", "dyn_decoder",
           "dyn_enc_hyper", "dyn_dec_hyper_means", "dyn_dec_hyper_scales",
           "latent_codec.cc_mean_transforms", "latent_codec.cc_scale_transforms", "latent_codec.lrp_transforms")


def _hook(model, totals: dict) -> None:
    """Accumulate each module's wall time into totals[name]; blocks of g_a1/g_s1/g_a2/g_s0
    are timed one by one, the hyperprior and slice transforms as wholes."""
    starts = {}
    for name in MODULES:
        module = model.get_submodule(name)
        if name.startswith("g_"):
            parts = [(f"{name}.{i}", m) for i, m in enumerate(module)]
        elif name.endswith("_transforms"):
            parts = [(name, m) for m in module]  # all slices under one name
        else:
            parts = [(name, module)]
        for key, m in parts:
            m.register_forward_pre_hook(lambda _m, _a, key=key: starts.__setitem__(key, time.perf_counter()))
            m.register_forward_hook(
                lambda _m, _a, _o, key=key: totals.__setitem__(key, totals[key] + time.perf_counter() - starts[key]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf.module_time", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", help="source image (default: synthetic)")
    p.add_argument("--size", type=_size, default=(768, 512))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)

    import torch

    from bench.perf.reference_segpic import to_reference
    from segpic.codec import rgb_to_tensor
    from segpic.ops.deterministic import deterministic_inference

    torch.set_num_threads(args.threads)
    w, h = args.size
    x = rgb_to_tensor(test_image(args.image, w, h))
    contexts = {"ours": deterministic_inference, "reference": torch.no_grad}
    models, totals = {}, {}
    for variant in contexts:
        models[variant] = build_model(REFERENCE_ARCH).eval()
        if variant == "reference":
            to_reference(models[variant])
        totals[variant] = defaultdict(float)
        _hook(models[variant], totals[variant])
        with torch.no_grad():
            models[variant].update(force=True)
    samples = {v: defaultdict(list) for v in contexts}
    for run in range(args.runs + 1):  # the first run warms up
        for variant, context in contexts.items():
            model, tot = models[variant], totals[variant]
            with context():
                for op in ("encode", "decode"):
                    tot.clear()
                    t0 = time.perf_counter()
                    if op == "encode":
                        out = model.compress(x)
                    else:
                        model.decompress(out["strings"], out["shape"])
                    total = time.perf_counter() - t0
                    if run:
                        for key, sec in tot.items():
                            samples[variant][(op, key)].append(sec)
                        samples[variant][(op, "rest")].append(total - sum(tot.values()))
                        samples[variant][(op, "total")].append(total)
    keys = sorted(samples["ours"], key=lambda k: (k[0] != "encode", k[1] == "total", k[1] == "rest",
                                                  -statistics.median(samples["ours"][k])))
    rows = [[op, key, f"{statistics.median(samples['ours'][(op, key)]):.3f}",
             f"{statistics.median(samples['reference'][(op, key)]):.3f}"]
            for op, key in keys if statistics.median(samples["reference"][(op, key)]) >= 0.005 or key == "rest"]
    print(tabulate(rows, headers=["op", "module", "ours s", "reference s"]))
    print(f"SegPIC {w}x{h}, {args.threads} thread(s), median of {args.runs} runs; modules under 5 ms left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
