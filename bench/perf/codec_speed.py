"""Encode/decode time and peak memory of the learned codecs on this CPU.

    python -m bench.perf.codec_speed [--image PNG] [--archs ARCH ...]
        [--sizes 768x512 2048x1365] [--threads 1 2] [--runs 3] [--large-archs segpic]
        [--variants ours reference] [--out speed.json]

Each (architecture, size, threads, operation) is measured in a fresh Python
process, so that the peak resident memory it reports (``ru_maxrss``) belongs to
that operation alone (model weights included, as a user would see it).  Inside
the process the operation runs ``--runs`` times and the median wall time of
``ImageCodec.encode`` / ``ImageCodec.decode`` (real compress/decompress with rANS,
padding and the container) is reported.

The networks have full-size default configurations with random weights from a
fixed seed: time and memory depend on the architecture and image size, not on
training.  The image is ``--image`` resized (Lanczos) to each size; without it, a
deterministic synthetic image is used.

``--variants reference`` also measures SegPIC the way the authors' implementation runs
(:mod:`bench.perf.reference_segpic`: default oneDNN convolutions, Unfold + einsum DPSConv,
whole maps), side by side with ours: same weights, same image, same machine, same run, the
cases interleaved so that a change of machine load hits both.  Not a test: it takes minutes.  With
``--out`` every finished measurement is saved at once, and a rerun with the same file
skips what it holds, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from tabulate import tabulate
from tqdm import tqdm

from bench.results import atomic_write
from segpic import registry

SEED = 0
ARCHS = registry.names()
DEFAULT_ARCHS = registry.names()[:3]  # the SegPIC family (CompressAI's models: name them)
VARIANTS = ("ours", "reference")  # reference: SegPIC only (bench.perf.reference_segpic)
#: The registry entry that bench.perf.reference_segpic re-creates the authors' formulation of.
REFERENCE_ARCH = next(n for n, a in registry.REGISTRY.items() if a.target == "segpic.models.segpic:SegPIC")


def build_model(arch: str):
    """The architecture's published (``paper``) configuration, weights from ``SEED``."""
    import torch

    torch.manual_seed(SEED)
    return registry.get(arch).build("paper")


def test_image(path, width: int, height: int) -> np.ndarray:
    """H x W x 3 uint8: ``path`` resized to width x height, or a synthetic image."""
    from PIL import Image

    if path:
        from bench.images import load_rgb

        im = Image.fromarray(load_rgb(Path(path)).rgb)
        return np.asarray(im.resize((width, height), Image.LANCZOS))
    rng = np.random.default_rng(SEED)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(9 * xx + 3 * yy), np.cos(7 * yy - 2 * xx), np.sin(5 * (xx + yy) ** 2)], -1)
    img = 127.5 + 100 * base + rng.normal(0, 8, base.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _worker(spec: dict) -> dict:
    """Runs in the child process: time one operation and report peak RSS."""
    import resource

    import torch

    torch.set_num_threads(spec["threads"])
    model = build_model(spec["arch"])
    if spec.get("variant", "ours") == "reference":
        encode, decode = _reference_ops(model)
    else:
        encode, decode = _codec_ops(model, spec["arch"])
    rgb = np.load(spec["image"])
    load_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # high-water mark before the operation
    times, cpu = [], []
    if spec["op"] == "encode":
        for _ in range(spec["runs"]):
            t0, c0 = time.perf_counter(), time.process_time()
            data = encode(rgb)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        Path(spec["bitstream"]).write_bytes(data)
    else:
        data = Path(spec["bitstream"]).read_bytes()
        for _ in range(spec["runs"]):
            t0, c0 = time.perf_counter(), time.process_time()
            decode(data)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return {
        "seconds": statistics.median(times),
        # CPU seconds of this process (not of the rANS decoder's worker): with 1 thread, the
        # wall time a quiet machine would show, whatever the load
        "cpu_seconds": statistics.median(cpu),
        "load_mib": load_kib / 1024,  # ru_maxrss is in KiB on Linux
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bytes": len(data),
    }


def _codec_ops(model, arch: str):
    """encode(rgb) -> bytes and decode(bytes) of our ImageCodec (container included)."""
    from segpic.codec import ImageCodec

    codec = ImageCodec(model, arch, hashlib.sha256(f"{arch}-seed{SEED}".encode()).hexdigest())
    return codec.encode, codec.decode


def _reference_ops(model):
    """encode/decode of the reference formulation; the 'bytes' are the pickled streams."""
    import pickle

    import torch

    from bench.perf.reference_segpic import reference_decode, reference_encode, to_reference
    from segpic.codec import rgb_to_tensor

    model = to_reference(model.eval())
    with torch.no_grad():
        model.update(force=True)

    def encode(rgb):
        return pickle.dumps(reference_encode(model, rgb_to_tensor(rgb)))

    def decode(data):
        return reference_decode(model, pickle.loads(data))

    return encode, decode


def measure(spec: dict) -> dict:
    """Run ``_worker(spec)`` in a fresh interpreter and return its result."""
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), MKL_NUM_THREADS=str(spec["threads"]))
    proc = subprocess.run(
        [sys.executable, "-m", "bench.perf.codec_speed", "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{spec['arch']} {spec['op']} failed: {tail}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _key(arch: str, w: int, h: int, threads: int, variant: str) -> str:
    return f"{arch} {w}x{h} {threads}" + ("" if variant == "ours" else f" {variant}")


def _save_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=1))


def _size(text: str):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf.codec_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", help="source image (default: synthetic)")
    p.add_argument("--archs", nargs="+", choices=ARCHS, default=list(DEFAULT_ARCHS), metavar="ARCH",
                   help=f"registry entries (default: {' '.join(DEFAULT_ARCHS)}; any of {', '.join(ARCHS)})")
    p.add_argument("--sizes", nargs="+", type=_size, default=[(768, 512), (2048, 1365)])
    p.add_argument("--large-archs", nargs="*", choices=ARCHS, default=None, metavar="ARCH",
                   help="architectures measured at sizes above 768x512 (default: all of --archs)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=["ours"],
                   help="reference: also SegPIC in the authors' formulation, side by side")
    p.add_argument("--runs", type=int, default=3, help="runs per operation; the median is reported")
    p.add_argument("--out", type=Path, help="JSON file of finished measurements (resume cache)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0
    if args.image and not Path(args.image).is_file():
        print(f"codec_speed: error: no such image: {args.image}", file=sys.stderr)
        return 1
    large = args.archs if args.large_archs is None else args.large_archs
    jobs = [
        (arch, size, threads, variant)
        for size in args.sizes
        for arch in args.archs
        if size[0] * size[1] <= 768 * 512 or arch in large
        for threads in args.threads
        for variant in args.variants
        if variant == "ours" or arch == REFERENCE_ARCH
    ]
    done = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {}
    with tempfile.TemporaryDirectory() as tmp:
        images = {}
        for w, h in args.sizes:
            images[(w, h)] = str(Path(tmp, f"{w}x{h}.npy"))
            np.save(images[(w, h)], test_image(args.image, w, h))
        try:
            for arch, (w, h), threads, variant in tqdm(jobs, desc="codec_speed", unit="case"):
                key = _key(arch, w, h, threads, variant)
                if key in done:
                    continue
                spec = dict(arch=arch, threads=threads, runs=args.runs, image=images[(w, h)], variant=variant,
                            bitstream=str(Path(tmp, f"{arch}-{variant}-{w}x{h}.sgp")))
                done[key] = {"encode": measure(dict(spec, op="encode")), "decode": measure(dict(spec, op="decode"))}
                if args.out:
                    _save_json(args.out, done)
        except KeyboardInterrupt:
            print("codec_speed: interrupted; finished cases below" + (f" and in {args.out}" if args.out else ""),
                  file=sys.stderr)
        except RuntimeError as e:
            print(f"codec_speed: error: {e}", file=sys.stderr)
            return 1
    rows = []
    for arch, (w, h), threads, variant in jobs:
        r = done.get(_key(arch, w, h, threads, variant))
        if r:
            enc, dec = r["encode"], r["decode"]
            ref = done.get(_key(arch, w, h, threads, "reference")) if variant == "ours" else None
            ratio = ""
            if ref:
                ratio = (f"{(enc['seconds'] + dec['seconds']) / (ref['encode']['seconds'] + ref['decode']['seconds']):.2f} / "
                         f"{max(enc['peak_mib'], dec['peak_mib']) / max(ref['encode']['peak_mib'], ref['decode']['peak_mib']):.2f}")
            cpu = " / ".join(f"{r[op].get('cpu_seconds', float('nan')):.2f}" for op in ("encode", "decode"))
            rows.append([arch, variant, f"{w}x{h}", threads, f"{enc['seconds']:.2f}", f"{dec['seconds']:.2f}", cpu,
                         f"{enc['peak_mib']:.0f}", f"{dec['peak_mib']:.0f}", f"{dec['load_mib']:.0f}", ratio])
    print(tabulate(rows, headers=["arch", "variant", "size", "threads", "encode s", "decode s", "CPU s enc / dec",
                                  "encode peak MiB",
                                  "decode peak MiB", "loaded MiB", "time / peak vs reference"]))
    print(f"median of {args.runs} runs per cell; random weights (seed {SEED}); "
          f"peak = max RSS of a fresh process that builds the model and runs the operation; "
          f"loaded = its max RSS before the operation; vs reference: (encode + decode time) and "
          f"max(encode, decode) peak, each over the reference formulation's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
