"""Loading test images as 8-bit RGB, whatever their PNG/JPEG flavour.

Every codec and metric in the bench works on ``H x W x 3`` ``uint8`` arrays.  Files in
another mode (grayscale, gray+alpha, RGBA, palette, 16-bit) are converted here, once,
and the conversion is described by a one-line note so that a run can say what it did.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import List

import imagecodecs
import numpy as np
from PIL import Image, UnidentifiedImageError

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


def _png_bit_depth(head: bytes) -> int:
    """Bit depth from a PNG's IHDR chunk (byte 24), or 0 when ``head`` is not a PNG."""
    return head[24] if len(head) > 24 and head.startswith(_PNG_SIGNATURE) else 0


def _from_16bit_png(data: bytes) -> LoadedImage:
    """Decode a 16-bit PNG at full depth and round it to 8 bits (Pillow would truncate)."""
    samples = imagecodecs.png_decode(data)
    channels = 1 if samples.ndim == 2 else samples.shape[2]
    if samples.ndim == 2:
        samples = samples[:, :, None]
    colour = samples[:, :, :3] if channels >= 3 else np.repeat(samples[:, :, :1], 3, axis=2)
    rgb = np.rint(colour.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    what = {1: "grayscale", 2: "grayscale+alpha", 3: "RGB", 4: "RGBA (alpha dropped)"}[channels]
    return LoadedImage(np.ascontiguousarray(rgb), f"16-bit {what} converted to 8-bit RGB")


def load_rgb(path: Path) -> LoadedImage:
    """Read ``path`` into 8-bit RGB.

    Grayscale is replicated to three channels, alpha is dropped (not composited: the
    colour samples are what a codec would code), palettes are expanded and 16-bit
    samples are rounded to 8 bits (``round(v * 255 / 65535)``).

    Raises:
        ImageReadError: the file is missing, truncated or not an image.
    """
    try:
        data = Path(path).read_bytes()
        if _png_bit_depth(data[:32]) == 16:
            return _from_16bit_png(data)
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode == "RGB":
                return LoadedImage(np.ascontiguousarray(np.asarray(im)))
            rgb = np.ascontiguousarray(np.asarray(im.convert("RGB")))
            return LoadedImage(rgb, f"{_MODE_NAMES.get(im.mode, im.mode)} converted to 8-bit RGB")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, RuntimeError) as err:
        raise ImageReadError(f"{path}: unreadable image ({err})") from None
