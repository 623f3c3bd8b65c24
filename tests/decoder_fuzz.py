"""Fuzzing ImageCodec.decode with mutated containers of all three architectures.

    python tests/decoder_fuzz.py WORKDIR --random N --seed S [--budget SECONDS]

Builds the small configurations of bench/golden_weights.py (random weights, fixed seeds),
encodes one 64x80 image per architecture, then decodes mutants of each container: first the
structure-aware cases (every header field, grids, declared sizes, stream counts, lengths,
truncations, extensions, swaps, random streams; the CRC recomputed so that the mutant reaches
the decoder), then N random ones per architecture (bit flips and byte changes anywhere with the
CRC recomputed, random truncations) until the time budget is spent.  Each case must end in a
FormatError/CodecError or in an H x W x 3 uint8 image of the declared size; anything else prints
a traceback and the script exits 1.  Run in a subprocess: a signal or a hang is the caller's to see.
The last line is "fuzz: <cases> cases, <errors> clean errors, <decoded> decoded".
"""
import argparse
import random
import struct
import sys
import time
import traceback
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench.golden_weights import CONFIGS
from segpic.codec import CodecError, ImageCodec
from segpic.fileformat import FormatError, pack, unpack
from segpic.zoo import model_class


def recrc(data: bytes) -> bytes:
    """``data`` with its CRC field recomputed, the field placed by the header's own lengths
    (as fileformat.unpack reads it); unchanged when the header is too short to place it."""
    if len(data) < 6:
        return data
    n = data[5]
    if len(data) < 24 + n:
        return data
    k = data[23 + n]
    end = 24 + n + 4 * k
    if len(data) < end + 4:
        return data
    crc = zlib.crc32(data[end + 4:], zlib.crc32(data[:end]))
    return data[:end] + struct.pack(">I", crc) + data[end + 4:]


def structured(data: bytes, rng: random.Random):
    """(name, bytes) mutants that keep the container well formed except for one thing."""
    c = unpack(data)
    s = list(c.streams)
    n = len(c.arch)
    yield "grid", [pack(replace(c, grid=g)) for g in (0, 1, 2, 7, 64, 160, 192, 240, 255)]
    sizes = [(1, 1), (1, 4000), (65535, 65535), (16384, 16384), (768, 1048576), (64, 65535), (200, 130), (63, 81)]
    yield "size", [pack(replace(c, height=h, width=w)) for h, w in sizes]
    yield "size-zero", [recrc(data[:14 + n] + bytes(4) + data[18 + n:]), recrc(data[:18 + n] + bytes(4) + data[22 + n:])]
    yield "streams-empty", [pack(replace(c, streams=tuple(b"" if j == i else x for j, x in enumerate(s)))) for i in range(len(s))]
    yield "streams-all-empty", [pack(replace(c, streams=(b"",) * len(s)))]
    cut = []
    for i, x in enumerate(s):
        for k in (1, 3, 4, 8, len(x) // 2, len(x) - 8):
            if 0 < k < len(x):
                cut.append(pack(replace(c, streams=tuple(x[:-k] if j == i else y for j, y in enumerate(s)))))
    yield "stream-truncated", cut
    yield "stream-extended", [pack(replace(c, streams=tuple(x + ext if j == i else x for j, x in enumerate(s))))
                              for i in range(len(s)) for ext in (bytes(4), b"\xff" * 4, bytes(rng.randrange(256) for _ in range(64)))]
    yield "stream-random", [pack(replace(c, streams=tuple(bytes(rng.randrange(256) for _ in range(len(x))) if j == i else x
                                                          for j, x in enumerate(s)))) for i in range(len(s))]
    yield "stream-ones", [pack(replace(c, streams=tuple(b"\xff" * len(x) if j == i else x for j, x in enumerate(s))))
                          for i in range(len(s))]
    yield "streams-swapped", [pack(replace(c, streams=tuple(reversed(s)))), pack(replace(c, streams=(s[1], s[0], *s[2:])))]
    yield "stream-count", [pack(replace(c, streams=tuple(s[:-1]))), pack(replace(c, streams=(*s, s[-1]))),
                           pack(replace(c, streams=(s[0],)))]
    yield "arch", [recrc(data[:6] + b"x" + data[7:]), recrc(data[:5] + bytes([n + 1]) + data[6:])]
    yield "file-truncated", [data[:k] for k in (0, 4, 5, 6 + n, 22 + n, 24 + n, 28 + n + 4 * len(s), len(data) - 1)]


def random_mutant(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    kind = rng.randrange(4)
    if kind == 0:  # bit flips, CRC recomputed
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return recrc(bytes(b))
    if kind == 1:  # random bytes, CRC recomputed
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return recrc(bytes(b))
    if kind == 2:  # a run of bytes set to one value inside the streams, CRC recomputed
        start = rng.randrange(len(b) // 2, len(b))
        length = rng.randint(1, 32)
        b[start:start + length] = bytes([rng.choice((0, 255, rng.randrange(256)))]) * len(b[start:start + length])
        return recrc(bytes(b))
    return bytes(b[: rng.randrange(len(b))])  # truncated anywhere, CRC as is


def check_case(codec, data: bytes) -> str:
    try:
        rgb = codec.decode(data)
    except (FormatError, CodecError) as e:
        if "\n" in str(e):
            raise AssertionError(f"multi-line error: {e!r}")
        return "error"
    c = unpack(data)
    if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.shape == (c.height, c.width, 3)):
        raise AssertionError(f"decoded {type(rgb).__name__} {getattr(rgb, 'shape', None)} for {c.width}x{c.height}")
    return "decoded"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("workdir", type=Path)
    ap.add_argument("--random", type=int, default=20, help="random mutants per architecture")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=0, help="seconds for the random mutants (0: no limit)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rng = random.Random(args.seed)
    yy, xx = np.mgrid[0:64, 0:80]
    rgb = np.clip(np.stack([xx * 3.0, yy * 2.0, (xx * yy) % 256], -1), 0, 255).astype(np.uint8)
    codecs = {}
    for i, (arch, config) in enumerate(sorted(CONFIGS.items())):
        torch.manual_seed(i)
        path = args.workdir / f"{arch}.pth"
        torch.save({"model": model_class(arch)(**config).state_dict(), "config": {"arch": arch, **config}}, path)
        codecs[arch] = ImageCodec.from_checkpoint(path, grid=2)
    counts = {"error": 0, "decoded": 0}
    failures = 0

    def run(arch, name, data):
        nonlocal failures
        try:
            outcome = check_case(codecs[arch], data)
            counts[outcome] += 1
            if outcome == "decoded" and name != "original":
                print(f"decoded: {arch} {name}", file=sys.stderr)
        except Exception:
            failures += 1
            print(f"FAIL {arch} {name}:", file=sys.stderr)
            traceback.print_exc()

    originals = {arch: codec.encode(rgb) for arch, codec in codecs.items()}
    for arch, data in originals.items():
        run(arch, "original", data)
        for name, mutants in structured(data, rng):
            for mutant in mutants:
                run(arch, name, mutant)
    deadline = time.monotonic() + args.budget if args.budget else float("inf")
    for k in range(args.random):
        if time.monotonic() > deadline:
            break
        for arch, data in originals.items():
            run(arch, f"random #{k}", random_mutant(data, rng))
    total = counts["error"] + counts["decoded"] + failures
    print(f"fuzz: {total} cases, {counts['error']} clean errors, {counts['decoded']} decoded, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
