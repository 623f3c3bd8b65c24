"""CPU seconds of a model's own ``compress``/``decompress``, outside the codec's exact path.

    python -m bench.perf.native_speed ARCH [ARCH ...] [--image PNG] [--threads 1]

The ``paper`` configuration with random weights from seed 0 (as ``bench.perf.codec_speed``),
``compress`` and ``decompress`` called directly under ``torch.no_grad()``: PyTorch's default
convolutions and, for CompressAI's models, CompressAI's own rANS decoder.  Set against
``codec_speed``'s CPU seconds (the same work through ``ImageCodec``: deterministic inference,
checked decoding, container), it says what exact, checked decoding costs.  One run per
operation, in this process; not a test.
"""
from __future__ import annotations

import argparse
import json
import sys
import time


def measure(arch: str, image, threads: int) -> dict:
    import torch

    from bench.perf.codec_speed import build_model
    from segpic.codec import rgb_to_tensor
    from segpic.models.base import pad_to_multiple

    torch.set_num_threads(threads)
    model = build_model(arch).eval()
    model.update(force=True)
    x = pad_to_multiple(rgb_to_tensor(image))[0]
    with torch.no_grad():
        start = time.process_time()
        out = model.compress(x)
        encode = time.process_time() - start
        start = time.process_time()
        model.decompress(out["strings"], out["shape"])
        decode = time.process_time() - start
    return {"encode_cpu_s": round(encode, 2), "decode_cpu_s": round(decode, 2)}


def main(argv=None) -> int:
    from segpic import registry

    from bench.perf.codec_speed import test_image

    p = argparse.ArgumentParser(prog="python -m bench.perf.native_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("archs", nargs="+", choices=registry.names(), metavar="ARCH")
    p.add_argument("--image", help="source image, resized to --size (default: synthetic)")
    p.add_argument("--size", default="768x512")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    image = test_image(args.image, width, height)
    for arch in args.archs:
        print(arch, json.dumps(measure(arch, image, args.threads)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
