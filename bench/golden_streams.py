"""Golden streams: learned-codec bitstreams recorded once and decoded exactly on every machine.

    python -m bench.golden_streams            # check: decode every stream, re-encode its crop
    python -m bench.golden_streams --record   # re-record (only for an intended change)
    python -m bench.golden_streams --record --archs NAME   # record NAME's streams, keep the others

``results/golden/streams/`` holds one ``.sgp`` container per architecture of the regression set
(``segpic.registry`` entries marked golden; the golden test checkpoints, rate point 2) and image (crops of kodim04 and kodim23),
and ``streams.csv``: for each, the SHA-256 of the stream, of its decoded pixels (H x W x 3
uint8, row-major) and of its decoded latent symbols (every integer the rANS decoders
return, in decoding order, as int32). The streams are recorded once, on one machine, and
kept: a machine that decodes them to other symbols or other pixels, or encodes their crops to
other bytes, does not code portably (see ``segpic.ops.deterministic``).
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List, Tuple

import numpy as np

from segpic import registry

from .errors import UserError
from .provenance import describe
from .results import atomic_write

FOLDER = Path(__file__).resolve().parents[1] / "results" / "golden" / "streams"
CHECKPOINTS = FOLDER.parent / "checkpoints"
MANIFEST = "streams.csv"
ARCHITECTURES = registry.golden()
QUALITY = 2
#: (image, "top,left,height,width"): odd sizes, so that padding and cropping are exercised.
CROPS = (("kodim04.png", "200,100,136,200"), ("kodim23.png", "40,300,200,136"))
IMAGES = tuple(image for image, _ in CROPS)
COLUMNS = ("arch", "image", "crop", "checkpoint", "stream_sha256", "pixels_sha256", "symbols_sha256", "recorded_on")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def decoded_symbols() -> Iterator[List[np.ndarray]]:
    """Collect the integer symbols every entropy model dequantizes while the context is open.

    CompressAI's entropy models (and our channel-wise model) turn decoded symbols into
    latents through the static ``EntropyModel.dequantize``; wrapping it sees all of them, in
    decoding order, whatever the architecture.
    """
    import torch
    from compressai.entropy_models.entropy_models import EntropyModel

    seen: List[np.ndarray] = []
    original = EntropyModel.__dict__["dequantize"]

    def recording(inputs, means=None, dtype=torch.float):
        seen.append(inputs.detach().to("cpu").round().to(torch.int32).numpy())
        return original.__func__(inputs, means, dtype)

    EntropyModel.dequantize = staticmethod(recording)
    try:
        yield seen
    finally:
        EntropyModel.dequantize = original


def symbols_sha256(symbols: List[np.ndarray]) -> str:
    h = hashlib.sha256()
    for s in symbols:
        h.update(np.ascontiguousarray(s, dtype=np.int32).tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class Decoded:
    pixels_sha256: str
    symbols_sha256: str


def decode(codec, data: bytes) -> Decoded:
    """Decode ``data`` with an :class:`segpic.codec.ImageCodec`, hashing pixels and symbols."""
    with decoded_symbols() as symbols:
        rgb = codec.decode(data)
    return Decoded(_sha(np.ascontiguousarray(rgb).tobytes()), symbols_sha256(symbols))


def crop_of(kodak: Path, image: str, crop: str) -> np.ndarray:
    """The ``"top,left,height,width"`` crop of a Kodak image, H x W x 3 uint8."""
    from .images import load_rgb

    top, left, height, width = (int(v) for v in crop.split(","))
    return np.ascontiguousarray(load_rgb(kodak / image).rgb[top:top + height, left:left + width])


def stream_name(arch: str, image: str) -> str:
    return f"{arch}-{Path(image).stem}.sgp"


def golden_codec(arch: str, checkpoints: Path = CHECKPOINTS):
    """The ``ImageCodec`` of an architecture's golden test checkpoint at rate point ``QUALITY``."""
    from segpic.codec import ImageCodec

    return ImageCodec.from_checkpoint(checkpoints / f"{arch}-q{QUALITY}.pth", arch=arch)


def record(kodak: Path, folder: Path = FOLDER, archs=ARCHITECTURES) -> None:
    """Code every crop with the architectures ``archs`` and write their streams and the
    manifest; the manifest rows of other architectures are kept as they are."""
    rows = [r for r in read_manifest(folder) if r["arch"] not in archs] if (folder / MANIFEST).is_file() else []
    for arch in archs:
        codec = golden_codec(arch)
        for image, crop in CROPS:
            data = codec.encode(crop_of(kodak, image, crop))
            got = decode(codec, data)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / stream_name(arch, image)).write_bytes(data)
            rows.append(dict(arch=arch, image=image, crop=crop,
                             checkpoint=f"{arch}-q{QUALITY}.pth", stream_sha256=_sha(data),
                             pixels_sha256=got.pixels_sha256, symbols_sha256=got.symbols_sha256,
                             recorded_on=describe()))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(folder / MANIFEST, buf.getvalue())


def read_manifest(folder: Path = FOLDER) -> List[dict]:
    path = folder / MANIFEST
    if not path.is_file():
        raise UserError(f"golden streams manifest {path} not found")
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check(kodak: Path, folder: Path = FOLDER, checkpoints: Path = CHECKPOINTS) -> List[Tuple[str, str]]:
    """Every way this machine departs from the recorded streams, as (stream file, what
    differs); empty: none."""
    problems = []
    codecs = {}
    for row in read_manifest(folder):
        arch = row["arch"]
        if arch not in codecs:
            codecs[arch] = golden_codec(arch, checkpoints)
        codec = codecs[arch]
        name = stream_name(arch, row["image"])
        data = (folder / name).read_bytes()
        if _sha(data) != row["stream_sha256"]:
            problems.append((name, "the stored stream is not the recorded one"))
            continue
        got = decode(codec, data)
        if got.symbols_sha256 != row["symbols_sha256"]:
            problems.append((name, "decodes to other latent symbols than on the recording machine"))
        if got.pixels_sha256 != row["pixels_sha256"]:
            problems.append((name, "decodes to other pixels than on the recording machine"))
        if _sha(codec.encode(crop_of(kodak, row["image"], row["crop"]))) != row["stream_sha256"]:
            problems.append((name, "its crop encodes to other bytes than on the recording machine"))
    return problems


def main(argv=None) -> int:
    from .regress import kodak_folder

    parser = argparse.ArgumentParser(prog="python -m bench.golden_streams", description=__doc__.splitlines()[0])
    parser.add_argument("--record", action="store_true", help="re-record the streams (an intended change only)")
    parser.add_argument("--archs", nargs="+", choices=ARCHITECTURES, default=list(ARCHITECTURES), metavar="ARCH",
                        help="with --record: the architectures to (re-)record (default: all); the others are kept")
    parser.add_argument("--data-root", default=None, help="folder holding kodak/")
    args = parser.parse_args(argv)
    try:
        kodak = kodak_folder(args.data_root, IMAGES)
        if args.record:
            record(kodak, archs=tuple(args.archs))
            print(f"recorded {len(args.archs) * len(CROPS)} streams in {FOLDER} on {describe()}")
            return 0
        problems = check(kodak)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for name, what in problems:
        print(f"{name}: {what}")
    rows = read_manifest()
    if problems:
        print(f"golden streams recorded on: {rows[0]['recorded_on']}\nthis machine:               {describe()}",
              file=sys.stderr)
        return 1
    print(f"golden streams reproduced exactly: {len(rows)} streams ({describe()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
