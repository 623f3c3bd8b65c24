"""Image in, container bytes out, and back: the API behind ``python -m segpic``
and the learned codecs of ``bench``.

One :class:`ImageCodec` wraps one checkpoint.  Encoding pads the image with
centred zeros to a multiple of 64 (as the reference evaluation does), runs the
model's ``compress`` and packs the streams with the original size and the
checkpoint's hash into a :mod:`segpic.fileformat` container.  Decoding checks
that the container was made with the same checkpoint, runs ``decompress`` and
crops back.
"""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path

import numpy as np
import torch

from segpic import registry
from segpic.entropy.checked import checked_decoding, guard_coders
from segpic.errors import CodecError, first_line
from segpic.fileformat import HASH_BYTES, CodedImage, FormatError, pack, unpack
from segpic.limits import MAX_PIXELS, pixel_limit_error
from segpic.models.base import crop, pad_to_multiple
from segpic.ops.deterministic import deterministic_inference

PAD_MULTIPLE = 64  # y is H/16 and z is H/64: the hyperpriors need both sides to divide by 64


def file_sha256(path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class ImageCodec:
    """A loaded model plus the container rules.

    Attributes:
        model: the network, in eval mode with its CDF tables built.
        arch: architecture name written into containers (a ``segpic.registry`` entry, whose
            stream layout the container follows).
        checkpoint_sha: hex SHA-256 of the checkpoint file.
        grid: SegPIC's prototype grid side used when encoding (ignored by models without one).
    """

    def __init__(self, model: torch.nn.Module, arch: str, checkpoint_sha: str, grid: int = 4, update: bool = True):
        """``update``: build the entropy coders' CDF tables (``update(force=True)``);
        pass False for a model that was just updated (the zoo's loader does it)."""
        if not 1 <= grid <= 255:
            raise CodecError(f"grid must be in 1..255, got {grid}")
        try:
            self.entry = registry.get(arch)
        except registry.ArchitectureError as e:
            raise CodecError(str(e)) from None
        self.model = model.eval()
        guard_coders(model)  # CompressAI's entropy models decode through the checked decoder
        self.arch = arch
        self.checkpoint_sha = checkpoint_sha
        self.grid = grid
        self._uses_grid = "grid" in inspect.signature(model.compress).parameters
        if update:
            with torch.no_grad():
                model.update(force=True)

    @classmethod
    def from_checkpoint(cls, path, arch=None, device="cpu", grid: int = 4, trust: bool = False) -> "ImageCodec":
        """Load ``path`` through :func:`segpic.zoo.load_checkpoint` (``arch`` is
        guessed from the keys when ``None``; ``trust``: unrestricted unpickling, see there)."""
        from segpic.zoo import CheckpointError, load_checkpoint

        path = Path(path)
        if not path.is_file():
            raise CodecError(f"checkpoint not found: {path}")
        try:
            model = load_checkpoint(str(path), arch=arch, device=device, trust=trust)
        except CheckpointError as e:
            raise CodecError(first_line(e)) from None
        if arch is None:
            arch = registry.name_of(model)
        return cls(model, arch, file_sha256(path), grid, update=False)

    # ------------------------------------------------------------------ encode

    def encode(self, rgb: np.ndarray) -> bytes:
        """H x W x 3 uint8 RGB -> container bytes."""
        return self._encode(rgb)[0]

    def reconstruct(self, rgb: np.ndarray) -> np.ndarray:
        """The image the encoder expects the decoder to produce: its own streams
        decoded in this process.  H x W x 3 uint8."""
        _, strings, shape, padding = self._encode(rgb)
        return self._synthesize(strings, shape, padding, self._kwargs(self.grid))

    def _encode(self, rgb: np.ndarray):
        x = rgb_to_tensor(rgb, self._device())
        x_pad, padding = pad_to_multiple(x, PAD_MULTIPLE)
        with deterministic_inference():
            out = self.model.compress(x_pad, **self._kwargs(self.grid))
        strings, shape = out["strings"], _plain(out["shape"])
        expected = self._layout(*x_pad.shape[2:])
        if shape != expected or len(strings) != self._streams():
            raise RuntimeError(f"{self.arch}.compress returned {len(strings)} streams and shape {shape}, the registry's "
                               f"layout is {self._streams()} streams and shape {expected}")
        coded = CodedImage(
            arch=self.arch,
            checkpoint_hash=bytes.fromhex(self.checkpoint_sha)[:HASH_BYTES],
            height=rgb.shape[0],
            width=rgb.shape[1],
            grid=self.grid if self._uses_grid else 0,
            streams=tuple(s[0] for s in strings),  # batch of one
        )
        return pack(coded), strings, shape, padding

    # ------------------------------------------------------------------ decode

    def decode(self, data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray:
        """Container bytes -> H x W x 3 uint8 RGB.

        ``max_pixels``: the largest height x width accepted (segpic.limits.MAX_PIXELS).

        Raises:
            FormatError: the bytes are not a valid container, or its header or streams do not
                fit the model (stream count, grid, a stream that is not exactly the encoding
                of what it decodes to).
            CodecError: the container was made by another architecture or checkpoint, or its
                image is larger than ``max_pixels``.
        """
        coded = unpack(data)
        if coded.arch != self.arch:
            raise CodecError(f"bitstream was made by a {coded.arch} model, this checkpoint is {self.arch}")
        if coded.checkpoint_hash.hex() != self.checkpoint_sha[: 2 * HASH_BYTES]:
            raise CodecError(
                f"bitstream was made with checkpoint {coded.checkpoint_hash.hex()}, "
                f"not with this one ({self.checkpoint_sha[:2 * HASH_BYTES]})"
            )
        check_header(coded, self._streams(), self._uses_grid, max_pixels)
        x_shape = (1, 3, coded.height, coded.width)
        padded, padding = pad_to_multiple(torch.empty(x_shape, device="meta"), PAD_MULTIPLE)
        shape = self._layout(*padded.shape[2:])
        strings = [[s] for s in coded.streams]
        try:
            return self._synthesize(strings, shape, padding, self._kwargs(coded.grid))
        except CodecError:  # this process cannot decode exactly (segpic.ops.threads.PortabilityError)
            raise
        except (ValueError, IndexError) as e:  # a well-formed container with the wrong streams
            raise FormatError(f"bitstream does not match the model: {first_line(e)}") from None

    def _synthesize(self, strings, shape, padding, kwargs) -> np.ndarray:
        with deterministic_inference(), checked_decoding():
            x_hat = self.model.decompress(strings, _for_model(shape), **kwargs)["x_hat"]
        return _to_uint8(crop(x_hat, padding))

    # ------------------------------------------------------------------ helpers

    def _streams(self) -> int:
        """How many streams the model's ``compress`` returns (the registry's stream layout)."""
        return self.entry.streams(self.model)

    def _layout(self, height: int, width: int):
        """``decompress``'s shape argument for a padded height x width (nested tuples)."""
        return _plain(self.entry.shape(self.model, height, width))

    def _kwargs(self, grid: int) -> dict:
        return {"grid": grid} if self._uses_grid else {}

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device


def check_header(coded: CodedImage, num_streams: int, uses_grid: bool, max_pixels: int = MAX_PIXELS) -> None:
    """The header fields a model can decode: its stream count, a grid for a model with
    prototypes (none otherwise), and at most ``max_pixels`` pixels."""
    if len(coded.streams) != num_streams:
        raise FormatError(f"bitstream does not match the model: {len(coded.streams)} streams, {coded.arch} has {num_streams}")
    if uses_grid and coded.grid == 0:
        raise FormatError("corrupted header: grid 0 for a model that needs one")
    if not uses_grid and coded.grid != 0:
        raise FormatError(f"corrupted header: grid {coded.grid} for a model without prototypes")
    too_large = pixel_limit_error(coded.width, coded.height, max_pixels)
    if too_large:
        raise CodecError(too_large)


def _plain(shape):
    """A ``compress`` shape (sizes, lists of them, dicts of those) as nested tuples of ints and
    dicts, comparable with the registry's layout."""
    if isinstance(shape, dict):
        return {k: _plain(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)) and shape and not isinstance(shape[0], int):
        return tuple(_plain(s) for s in shape)
    return tuple(int(s) for s in shape)


def _for_model(shape):
    """The layout as ``decompress`` takes it: a list of ints for the SegPIC family's z size
    (the reference's convention), lists of sizes for channel groups, dicts as they are."""
    if isinstance(shape, dict):
        return {k: _for_model(v) for k, v in shape.items()}
    if shape and not isinstance(shape[0], int):
        return [_for_model(s) for s in shape]
    return list(shape)


def rgb_to_tensor(rgb: np.ndarray, device="cpu") -> torch.Tensor:
    """H x W x 3 uint8 -> (1, 3, H, W) float32 in [0, 1]."""
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        desc = f"{rgb.dtype} array of shape {rgb.shape}" if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise CodecError(f"expected an H x W x 3 uint8 RGB image, got {desc}")
    if min(rgb.shape[:2]) < 1:
        raise CodecError(f"empty image: {rgb.shape[0]}x{rgb.shape[1]}")
    x = torch.from_numpy(rgb.copy()).to(device)  # a copy: the caller's array may be read-only
    return x.permute(2, 0, 1).unsqueeze(0).float().div(255.0)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) float -> H x W x 3 uint8 (clamped to [0, 1], rounded)."""
    x = x.clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return x[0].permute(1, 2, 0).cpu().numpy()
