"""Loading test images as 8-bit RGB, whatever their PNG/JPEG flavour.

Every codec and metric in the bench works on ``H x W x 3`` ``uint8`` arrays.  Files in
another mode (grayscale, gray+alpha, RGBA, palette, 16-bit) are converted here, once,
and the conversion is described by a one-line note so that a run can say what it did.

Every file is untrusted: its width and height are read from the header and checked against a
pixel limit (default :data:`segpic.limits.MAX_PIXELS`) before anything is decoded, whichever
library decodes it (Pillow, or imagecodecs for 16-bit PNG).  Pillow's own decompression-bomb
check is replaced by that one limit while a file is opened.
"""
from __future__ import annotations

import io
import struct
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import List

import imagecodecs
import numpy as np
from PIL import Image, UnidentifiedImageError

from segpic.limits import MAX_PIXELS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


class ImageReadError(Exception):
    """An image file could not be read; the run reports it and goes on."""


@dataclass(frozen=True)
class LoadedImage:
    """An image as the bench sees it.

    Attributes:
        rgb: ``H x W x 3`` uint8 array.
        note: a one-line description of the conversion applied, or ``""``.
    """

    rgb: np.ndarray
    note: str = ""


def list_images(folder: Path) -> List[Path]:
    """The image files directly inside ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MODE_NAMES = {"L": "grayscale", "LA": "grayscale+alpha", "RGBA": "RGBA (alpha dropped)",
               "P": "palette", "PA": "palette+alpha", "1": "1-bit", "CMYK": "CMYK", "I;16": "16-bit grayscale"}


def _png_header(head: bytes):
    """(width, height, bit depth) from a PNG's IHDR chunk, or None when ``head`` is not a PNG."""
    if len(head) < 25 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return width, height, head[24]


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageReadError(f"{width}x{height} = {width * height:,} pixels, above the limit of "
                             f"{max_pixels:,} (raise it with --max-pixels)")


@contextmanager
def _pillow_limit_off():
    """Pillow's decompression-bomb check off (and its warning with it): ours applies instead.
    Restored on exit; image loading runs in one thread per process."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def to_8bit(samples: np.ndarray, rows: int = 256) -> np.ndarray:
    """uint16 samples rounded to uint8, ``round(v * 255 / 65535)``, same shape.

    Computed in integers, ``(v + 128) // 257`` (exact: ``v / 257`` is never halfway between two
    integers), a block of ``rows`` rows at a time, so no wide copy of the whole image is made.
    """
    out = np.empty(samples.shape, np.uint8)
    for start in range(0, samples.shape[0], rows):
        block = samples[start:start + rows].astype(np.uint32)
        block += 128
        block //= 257
        out[start:start + rows] = block
    return out


def _from_16bit_png(data: bytes) -> LoadedImage:
    """Decode a 16-bit PNG at full depth and round it to 8 bits (Pillow would truncate)."""
    samples = imagecodecs.png_decode(data)
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    if samples.ndim == 2:
        samples = samples[:, :, None]
    colour = to_8bit(samples[:, :, :3] if channels >= 3 else samples[:, :, :1])
    rgb = colour if channels >= 3 else np.repeat(colour, 3, axis=2)
    what = {1: "grayscale", 2: "grayscale+alpha", 3: "RGB", 4: "RGBA (alpha dropped)"}[channels]
    return LoadedImage(np.ascontiguousarray(rgb), f"16-bit {what} converted to 8-bit RGB")


def load_rgb(path: Path, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Read ``path`` into 8-bit RGB.

    Grayscale is replicated to three channels, alpha is dropped (not composited: the
    colour samples are what a codec would code), palettes are expanded and 16-bit
    samples are rounded to 8 bits (``round(v * 255 / 65535)``).

    Args:
        max_pixels: largest width x height accepted, checked from the header before decoding.

    Raises:
        ImageReadError: the file is missing, truncated, not an image, larger than
            ``max_pixels``, or too large for the memory left.
    """
    try:
        data = Path(path).read_bytes()
        png = _png_header(data[:32])
        if png is not None:
            _check_size(png[0], png[1], max_pixels)
            if png[2] == 16:
                return _from_16bit_png(data)
        with _pillow_limit_off(), Image.open(io.BytesIO(data)) as im:
            _check_size(im.width, im.height, max_pixels)
            im.load()
            if im.mode == "RGB":
                return LoadedImage(np.ascontiguousarray(np.asarray(im)))
            rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
            return LoadedImage(rgb, f"{_MODE_NAMES.get(im.mode, im.mode)} converted to 8-bit RGB")
    except ImageReadError as err:
        raise ImageReadError(f"{path}: {err}") from None
    except MemoryError:
        raise ImageReadError(f"{path}: not enough memory to decode it") from None
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, RuntimeError) as err:
        raise ImageReadError(f"{path}: unreadable image ({err})") from None
