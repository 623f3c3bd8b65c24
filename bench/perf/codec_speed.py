"""Encode/decode time and peak memory of the learned codecs on this CPU, ours against the
authors' SegPIC code or its re-created formulation.

    python -m bench.perf.codec_speed [--image PNG] [--archs segpic stf wacnn]
        [--sizes 768x512 2048x1344] [--threads 1 2] [--runs 5] [--large-archs segpic]
        [--variants ours reference authors] [--large-variants ours authors]
        [--reference-dir PATH] [--out speed.json]

Each operation (architecture, size, threads, variant, encode or decode) runs once in a fresh
Python process, so that the peak resident memory it reports (``ru_maxrss``) belongs to that
operation alone (model weights included, as a user would see it) and its time includes what a
user's first call pays. ``--runs N`` makes N rounds; in each round every case is measured once,
in the same order, so the cases are interleaved and a change of machine load hits all of them;
the median over the rounds is reported, with the 1-minute load average read before each
operation. ``ours`` is ``ImageCodec.encode`` / ``decode`` (real compress/decompress with rANS,
padding and the container).

The networks have full-size default configurations with random weights from a fixed seed:
time and memory depend on the architecture and image size, not on training. The image is
``--image`` resized (Lanczos) to each size; without it, a deterministic synthetic image.

SegPIC baselines, same weights, same image:

- ``authors`` (given by ``--reference-dir PATH``, a checkout of the authors' repository; see
  :mod:`bench.perf.authors_segpic`): their own ``compress``/``decompress``, run from their
  vendored compressai in a process that does not import ``segpic``. Their streams and
  decoded pixels are compared with ours (``same streams``, bpp and PSNR in the JSON);
- ``reference``: the re-created formulation (:mod:`bench.perf.reference_segpic`) on our
  modules, for machines without the checkout.

Not a test: it takes minutes. With ``--out`` every finished operation is saved at once, and a
rerun with the same file skips what it holds, so an interrupted run resumes; the table is also
written next to it as Markdown (``.md``).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from tabulate import tabulate
from tqdm import tqdm

from bench.perf.authors_segpic import AuthorsCodeError, time_operation, vendored_package
from bench.results import atomic_write
from segpic import registry

SEED = 0
ARCHS = registry.names()
DEFAULT_ARCHS = registry.names()[:3]  # the SegPIC family (CompressAI's models: name them)
VARIANTS = ("ours", "reference", "authors")  # reference, authors: SegPIC only
#: The registry entry that the baselines (the authors' code, bench.perf.reference_segpic) are of.
REFERENCE_ARCH = next(n for n, a in registry.REGISTRY.items() if a.target == "segpic.models.segpic:SegPIC")
BASELINES = ("authors", "reference")
AUTHORS_WORKER = Path(__file__).with_name("authors_segpic.py")


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
    """Runs in the child process: time one operation of ours or the re-created reference."""
    import torch

    torch.set_num_threads(spec["threads"])
    model = build_model(spec["arch"])
    if spec["variant"] == "reference":
        encode, decode = _reference_ops(model)
    else:
        encode, decode = _codec_ops(model, spec["arch"])
    return time_operation(spec, encode, decode)


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
    from segpic.codec import _to_uint8, rgb_to_tensor
    from segpic.models.base import crop, pad_to_multiple

    model = to_reference(model.eval())
    with torch.no_grad():
        model.update(force=True)

    def encode(rgb):
        x = rgb_to_tensor(rgb)
        return pickle.dumps((reference_encode(model, x), pad_to_multiple(x, 64)[1]))

    def decode(data):
        out, padding = pickle.loads(data)  # only ever what encode wrote in this run
        return _to_uint8(crop(reference_decode(model, out), padding))

    return encode, decode


def save_authors_weights(path: Path) -> None:
    """Our SegPIC's seeded weights in the authors' state_dict format, for their worker."""
    import torch

    from bench.perf.authors_segpic import authors_state_dict

    torch.save(authors_state_dict(build_model(REFERENCE_ARCH)), path)


def measure(spec: dict) -> dict:
    """Run one operation in a fresh interpreter; its result plus the load average before it."""
    env = dict(os.environ, OMP_NUM_THREADS=str(spec["threads"]), MKL_NUM_THREADS=str(spec["threads"]))
    if spec["variant"] == "authors":  # a script, so that the bench package (and segpic) is not imported
        cmd = [sys.executable, str(AUTHORS_WORKER), "--worker", json.dumps(spec)]
    else:
        cmd = [sys.executable, "-m", "bench.perf.codec_speed", "--worker", json.dumps(spec)]
    load = os.getloadavg()[0]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{spec['arch']} {spec['variant']} {spec['op']} failed: {tail}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]), load=load)


def _streams(variant: str, data: bytes) -> list:
    """The coded streams (latent, hyper-latent, two prototype streams) of a stream file."""
    import pickle

    if variant == "ours":
        from segpic.fileformat import unpack

        return [bytes(s) for s in unpack(data).streams]
    if variant == "authors":
        strings = pickle.loads(data)[0]  # only ever what our own worker wrote in this run
    else:
        strings = pickle.loads(data)[0]["strings"]
    return [bytes(s[0]) for s in strings]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


def _quality(variant: str, spec: dict, image: np.ndarray) -> dict:
    """bpp (streams only), PSNR of the decoded image, the streams' and the pixels' SHA-256."""
    data = Path(spec["bitstream"]).read_bytes()
    streams = _streams(variant, data)
    decoded = np.load(spec["decoded"])
    return {"bpp": 8 * sum(map(len, streams)) / (image.shape[0] * image.shape[1]),
            "psnr": _psnr(decoded, image),
            "streams_sha256": hashlib.sha256(b"".join(len(s).to_bytes(8, "big") + s for s in streams)).hexdigest(),
            "pixels_sha256": hashlib.sha256(np.ascontiguousarray(decoded, dtype=np.uint8).tobytes()).hexdigest()}


def _key(arch: str, w: int, h: int, threads: int, variant: str) -> str:
    return f"{arch} {w}x{h} {threads}" + ("" if variant == "ours" else f" {variant}")


def _rounds(entry: dict, op: str) -> list:
    value = entry.get(op, [])
    return [value] if isinstance(value, dict) else value  # files from before the rounds: one entry


def _median(entry: dict, op: str, field: str) -> float:
    return statistics.median(r[field] for r in _rounds(entry, op))


def _machine() -> dict:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512": " avx512f" in flags, "torch": torch.__version__,
            "python": platform.python_version()}


def _size(text: str):
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    return w, h


def table(done: dict, jobs: list) -> tuple:
    """(rows, headers) of the summary: medians per case, ratios to the baselines present."""
    rows = []
    for arch, (w, h), threads, variant in jobs:
        r = done.get(_key(arch, w, h, threads, variant))
        if not r or not _rounds(r, "encode") or not _rounds(r, "decode"):
            continue
        enc, dec = _median(r, "encode", "seconds"), _median(r, "decode", "seconds")
        peak = max(_median(r, "encode", "peak_mib"), _median(r, "decode", "peak_mib"))
        loads = [x.get("load") for op in ("encode", "decode") for x in _rounds(r, op) if x.get("load") is not None]
        ratios = []
        for base in BASELINES:
            compared = variant == "ours" or (variant == "reference" and base == "authors")
            b = done.get(_key(arch, w, h, threads, base)) if compared else None
            if b and _rounds(b, "encode") and _rounds(b, "decode"):
                b_time = _median(b, "encode", "seconds") + _median(b, "decode", "seconds")
                b_peak = max(_median(b, "encode", "peak_mib"), _median(b, "decode", "peak_mib"))
                ratios.append(f"{(enc + dec) / b_time:.2f} / {peak / b_peak:.2f}")
            else:
                ratios.append("")
        n = min(len(_rounds(r, "encode")), len(_rounds(r, "decode")))
        cpu = " / ".join(f"{_median(r, op, 'cpu_seconds'):.2f}" for op in ("encode", "decode")
                         ) if all("cpu_seconds" in x for op in ("encode", "decode") for x in _rounds(r, op)) else ""
        rows.append([arch, variant, f"{w}x{h}", threads, n, f"{enc:.2f}", f"{dec:.2f}", cpu, f"{peak:.0f}",
                     f"{min(loads):.1f}-{max(loads):.1f}" if loads else "", *ratios])
    headers = ["arch", "variant", "size", "threads", "runs", "encode s", "decode s", "CPU s enc / dec", "peak MiB", "load avg",
               *[f"time / peak vs {b}" for b in BASELINES]]
    return rows, headers


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.perf.codec_speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--image", help="source image (default: synthetic)")
    p.add_argument("--archs", nargs="+", choices=ARCHS, default=list(DEFAULT_ARCHS), metavar="ARCH",
                   help=f"registry entries (default: {' '.join(DEFAULT_ARCHS)}; any of {', '.join(ARCHS)})")
    p.add_argument("--sizes", nargs="+", type=_size, default=[(768, 512), (2048, 1365)])
    p.add_argument("--large-archs", nargs="*", choices=ARCHS, default=None, metavar="ARCH",
                   help="architectures measured at sizes above 768x512 (default: all of --archs)")
    p.add_argument("--large-variants", nargs="*", choices=VARIANTS, default=None,
                   help="variants measured at sizes above 768x512 (default: all of --variants)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=None,
                   help="ours and SegPIC baselines (default: ours, plus authors with --reference-dir)")
    p.add_argument("--reference-dir", type=Path,
                   help="checkout of GityuxiLiu/SegPIC-for-Image-Compression: measure the authors' SegPIC too")
    p.add_argument("--runs", type=int, default=3, help="interleaved rounds; the median is reported")
    p.add_argument("--out", type=Path, help="JSON file of finished measurements (resume cache); a .md table beside it")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))))
        return 0
    variants = args.variants or (["ours", "authors"] if args.reference_dir else ["ours"])
    if args.image and not Path(args.image).is_file():
        print(f"codec_speed: error: no such image: {args.image}", file=sys.stderr)
        return 1
    if "authors" in variants:
        if args.reference_dir is None:
            print("codec_speed: error: --variants authors needs --reference-dir (a checkout of the authors' repository)",
                  file=sys.stderr)
            return 1
        try:
            reference_dir = str(vendored_package(args.reference_dir).resolve())
        except AuthorsCodeError as e:
            print(f"codec_speed: error: {e}", file=sys.stderr)
            return 1
    if args.runs < 1:
        print("codec_speed: error: --runs must be at least 1", file=sys.stderr)
        return 1
    large = args.archs if args.large_archs is None else args.large_archs
    large_variants = variants if args.large_variants is None else args.large_variants
    jobs = [
        (arch, size, threads, variant)
        for size in args.sizes
        for arch in args.archs
        if size[0] * size[1] <= 768 * 512 or arch in large
        for threads in args.threads
        for variant in variants
        if (variant == "ours" or arch == REFERENCE_ARCH) and (size[0] * size[1] <= 768 * 512 or variant in large_variants)
    ]
    done = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {}
    done.setdefault("machine", _machine())
    with tempfile.TemporaryDirectory() as tmp:
        images = {}
        for w, h in args.sizes:
            images[(w, h)] = str(Path(tmp, f"{w}x{h}.npy"))
            np.save(images[(w, h)], test_image(args.image, w, h))
        weights = str(Path(tmp, "authors-weights.pt"))
        if "authors" in variants:
            save_authors_weights(Path(weights))
        try:
            work = [(i, job) for i in range(args.runs) for job in jobs]
            for i, (arch, (w, h), threads, variant) in tqdm(work, desc="codec_speed", unit="case"):
                entry = done.setdefault(_key(arch, w, h, threads, variant), {"encode": [], "decode": []})
                if len(_rounds(entry, "encode")) > i and len(_rounds(entry, "decode")) > i:
                    continue
                base = Path(tmp, f"{arch}-{variant}-{w}x{h}-{threads}-{i}")
                spec = dict(arch=arch, threads=threads, runs=1, image=images[(w, h)], variant=variant,
                            bitstream=f"{base}.bin", decoded=f"{base}.npy", reference_dir=reference_dir
                            if variant == "authors" else None, weights=weights)
                enc, dec = measure(dict(spec, op="encode")), measure(dict(spec, op="decode"))
                if arch == REFERENCE_ARCH:
                    dec.update(_quality(variant, spec, np.load(images[(w, h)])))
                entry["encode"] = _rounds(entry, "encode")[:i] + [enc]
                entry["decode"] = _rounds(entry, "decode")[:i] + [dec]
                if args.out:
                    _save_json(args.out, done)
        except KeyboardInterrupt:
            print("codec_speed: interrupted; finished cases below" + (f" and in {args.out}" if args.out else ""),
                  file=sys.stderr)
        except RuntimeError as e:
            print(f"codec_speed: error: {e}", file=sys.stderr)
            return 1
    rows, headers = table(done, jobs)
    note = (f"median of interleaved runs, each operation in a fresh process; random weights (seed {SEED}); "
            f"peak = max RSS of a fresh process that builds the model and runs the operation, the larger of encode "
            f"and decode; load avg = 1-minute load average before each operation (min-max); vs a baseline: "
            f"(encode + decode time) and peak, ours (and the re-created reference's) over the baseline's. Machine: {done['machine']['cpu']}, "
            f"{done['machine']['cores']} cores, AVX-512 {'yes' if done['machine']['avx512'] else 'no'}.")
    print(tabulate(rows, headers=headers))
    print(note)
    agreement = _agreement(done, jobs)
    for line in agreement:
        print(line)
    if args.out:
        _save_json(args.out, done)
        atomic_write(args.out.with_suffix(".md"), tabulate(rows, headers=headers, tablefmt="github") + "\n\n"
                     + note + "\n\n" + "\n".join(f"- {line}" for line in agreement) + "\n")
    return 0


def _agreement(done: dict, jobs: list) -> list:
    """One line per SegPIC case with a baseline: same streams as ours or not, bpp and PSNR."""
    lines = []
    for arch, (w, h), threads, variant in jobs:
        if variant == "ours" or arch != REFERENCE_ARCH:
            continue
        ours, base = done.get(_key(arch, w, h, threads, "ours")), done.get(_key(arch, w, h, threads, variant))
        if not ours or not base or not _rounds(ours, "decode") or not _rounds(base, "decode"):
            continue
        a, b = _rounds(ours, "decode")[-1], _rounds(base, "decode")[-1]
        if "bpp" not in a or "bpp" not in b:
            continue
        same = "the same streams" if a["streams_sha256"] == b["streams_sha256"] else "other streams"
        same += (", decoded to the same pixels," if a.get("pixels_sha256") == b.get("pixels_sha256")
                 else ", decoded to other pixels,")
        lines.append(f"{w}x{h}, {threads} thread(s): {variant} codes {same} as ours; bpp {b['bpp']:.4f} vs "
                     f"{a['bpp']:.4f}, PSNR {b['psnr']:.3f} vs {a['psnr']:.3f} dB")
    return lines


def _save_json(path: Path, data: dict) -> None:
    atomic_write(path, json.dumps(data, indent=1))


if __name__ == "__main__":
    sys.exit(main())
