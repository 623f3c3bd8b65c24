"""Command line:  python -m segpic {encode,decode,train} ...

    python -m segpic encode IMG OUT --checkpoint CKPT [--arch A] [--grid G] [--device cpu|cuda|cuda:N]
    python -m segpic decode IN OUT.png --checkpoint CKPT [--device D]
    python -m segpic train ...          (see ``python -m segpic train --help``)

Errors end the program with one line on stderr and exit status 1 (2 for bad
arguments, 130 when interrupted).  Outputs are written to a temporary file in
the destination folder and renamed into place, so a failed run leaves nothing.
Arguments, input files (present, not empty, a readable image or container
header, within the pixel limit) and the output folder are checked before torch
and the networks are imported: a mistake costs a fraction of a second.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

from segpic.errors import CodecError, first_line
from segpic.fileformat import FormatError, unpack
from segpic.limits import MAX_PIXELS, pixel_limit_error

PROG = "segpic"


class CliError(Exception):
    """A user-facing failure, printed as one line."""


def _check_input(path: Path, what: str) -> None:
    """``path`` is an existing, non-empty file."""
    if not path.exists():
        raise CliError(f"no such file: {path}")
    if not path.is_file():
        raise CliError(f"{what} is not a file: {path}")
    if path.stat().st_size == 0:
        raise CliError(f"empty file: {path} is not a {what}")


def _check_output_folder(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CliError(f"output folder does not exist: {folder}")


def _read_image(path: Path, max_pixels: int):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    _check_input(path, "image")
    try:
        with Image.open(path) as im:  # reads the header only
            too_large = pixel_limit_error(im.width, im.height, max_pixels)
            if too_large:
                raise CliError(f"{path}: {too_large}")
            return np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError) as e:
        raise CliError(f"cannot read image {path}: {first_line(e)}") from None


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    _check_output_folder(path)
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"  # created by write(): the umask applies
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load_codec(args):
    _check_input(args.checkpoint, "checkpoint")
    from segpic.codec import ImageCodec  # torch, compressai and the networks: seconds
    from segpic.devices import DeviceUnavailable, require

    try:
        require(args.device)
    except DeviceUnavailable as e:
        raise CliError(str(e)) from None
    return ImageCodec.from_checkpoint(args.checkpoint, arch=args.arch, device=args.device, grid=args.grid,
                                      trust=args.trust_checkpoint)


def cmd_encode(args) -> int:
    _check_output_folder(args.output)
    rgb = _read_image(args.input, args.max_pixels)
    data = _load_codec(args).encode(rgb)
    _write_atomic(args.output, lambda tmp: tmp.write_bytes(data))
    bpp = 8 * len(data) / (rgb.shape[0] * rgb.shape[1])
    print(f"{args.output}: {len(data)} bytes, {bpp:.4f} bpp ({rgb.shape[1]}x{rgb.shape[0]})")
    return 0


def cmd_decode(args) -> int:
    if args.output.suffix.lower() != ".png":
        raise CliError(f"decode writes PNG; name the output *.png, not {args.output.name}")
    _check_output_folder(args.output)
    _check_input(args.input, "segpic bitstream")
    data = args.input.read_bytes()
    coded = unpack(data)  # a damaged file fails here, before the model is loaded
    too_large = pixel_limit_error(coded.width, coded.height, args.max_pixels)
    if too_large:
        raise CliError(f"{args.input}: {too_large}")
    codec = _load_codec(args)
    from PIL import Image

    rgb = codec.decode(data, max_pixels=args.max_pixels)
    _write_atomic(args.output, lambda tmp: Image.fromarray(rgb).save(tmp, format="PNG"))
    print(f"{args.output}: {rgb.shape[1]}x{rgb.shape[0]}")
    return 0


def cmd_train(args) -> int:
    return args.train_run(args)


def _add_train(sub, train_cli) -> None:
    """``train`` is defined by ``segpic.train.cli`` (``add_arguments``, ``run``); it is
    imported only when ``train`` is the command, so that encoding never pays for it."""
    if train_cli is None:  # listed in --help only
        sub.add_parser("train", help="train a model (python -m segpic train --help)")
        return
    p = sub.add_parser("train", help="train a model")
    train_cli.add_arguments(p)
    p.set_defaults(func=cmd_train, train_run=train_cli.run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser(train_cli=None) -> argparse.ArgumentParser:
    from segpic import registry  # no torch import: the parser stays quick
    from segpic.devices import parse_device

    parser = argparse.ArgumentParser(prog=PROG, description="learned image codec (SegPIC, its baselines and "
                                                            "CompressAI's models; segpic.registry)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{encode,decode,train}")

    def codec_options(p):
        p.add_argument("--checkpoint", required=True, type=Path, help="model checkpoint (.pth/.pth.tar)")
        p.add_argument("--arch", choices=registry.names(), metavar="ARCH",
                       help=f"architecture, one of {', '.join(registry.names())} (default: guessed from the checkpoint)")
        p.add_argument("--trust-checkpoint", action="store_true",
                       help="load the checkpoint with full pickle, which can run any code it contains; only for a "
                            "file from a source you trust (default: tensors and plain training metadata only)")
        p.add_argument("--max-pixels", type=_positive_int, default=MAX_PIXELS, metavar="N",
                       help=f"refuse images of more than N pixels (default {MAX_PIXELS}; coding needs about "
                            "0.5 KiB of memory per pixel)")
        p.add_argument("--device", default="cpu", type=parse_device, metavar="cpu|cuda|cuda:N",
                       help="torch device (default: cpu); decode on the kind of device that encoded")

    enc = sub.add_parser("encode", help="image -> bitstream")
    enc.add_argument("input", type=Path, metavar="IMG")
    enc.add_argument("output", type=Path, metavar="OUT")
    codec_options(enc)
    enc.add_argument("--grid", type=int, default=4, help="SegPIC prototype grid side (default 4)")
    enc.set_defaults(func=cmd_encode)

    dec = sub.add_parser("decode", help="bitstream -> PNG")
    dec.add_argument("input", type=Path, metavar="IN")
    dec.add_argument("output", type=Path, metavar="OUT.png")
    codec_options(dec)
    dec.set_defaults(func=cmd_decode, grid=4)  # the grid is read from the bitstream

    _add_train(sub, train_cli)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train_cli = None
    if argv[:1] == ["train"]:
        try:
            from segpic.train import cli as train_cli
        except ImportError as e:
            print(f"{PROG}: error: training is not available in this installation ({first_line(e)})", file=sys.stderr)
            return 1
    args = build_parser(train_cli).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (CliError, CodecError, FormatError, OSError) as e:
        print(f"{PROG}: error: {first_line(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
