"""Classical image codecs through maintained libraries (no external binaries).

=========  ===========================  ================================================
name       library                      quality means
=========  ===========================  ================================================
jpeg       Pillow (libjpeg-turbo)       JPEG quality 1..100, 4:2:0 (Pillow's default)
webp       Pillow (libwebp)             WebP quality 0..100, method 4
jpeg2000   imagecodecs (OpenJPEG)       target PSNR in dB of the single quality layer
avif       imagecodecs (libavif + aom)  AVIF quality 0..100, speed 6, 4:4:4
jpegxl     imagecodecs (libjxl)         JPEG XL quality 0..100 (libjxl maps it to a
                                        Butteraugli distance), effort 7
heic       pillow-heif (x265/libde265)  HEIF quality 0..100, 4:2:0
=========  ===========================  ================================================

Every encoder runs single-threaded, so ``bench run --jobs`` owns the parallelism and
timings are comparable.  Default qualities span roughly 0.1 to 1.5 bpp on Kodak.
"""
from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import PIL
import pillow_heif
from PIL import Image, features

from .base import Codec, register


def _decoded_rgb(array: np.ndarray) -> np.ndarray:
    """Check a decoder's output is ``H x W x 3`` uint8 and make it contiguous."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"decoder returned {array.dtype} {array.shape}, expected H x W x 3 uint8")
    return np.ascontiguousarray(array)


class PillowCodec(Codec):
    """A format Pillow writes and reads itself; ``quality`` is Pillow's ``quality=``."""

    pillow_format = ""
    save_options: dict = {}

    def encode(self, rgb, quality, path):
        Image.fromarray(rgb, "RGB").save(path, format=self.pillow_format, quality=int(quality), **self.save_options)

    def decode(self, path):
        with Image.open(path) as im:
            return _decoded_rgb(np.asarray(im.convert("RGB")))


@register("jpeg")
class JPEG(PillowCodec):
    name = "jpeg"
    extension = ".jpg"
    default_qualities = (5, 10, 20, 35, 50, 70)
    pillow_format = "JPEG"

    def version(self):
        return f"Pillow {PIL.__version__} libjpeg-turbo {features.version('libjpeg_turbo')}"


@register("webp")
class WebP(PillowCodec):
    name = "webp"
    extension = ".webp"
    default_qualities = (5, 15, 30, 50, 70, 80)
    pillow_format = "WEBP"
    save_options = {"method": 4}

    def version(self):
        return f"Pillow {PIL.__version__} libwebp {features.version('webp')}"


def _imagecodecs_version(library: str) -> str:
    """``imagecodecs X libname-Y`` from imagecodecs' own version report."""
    parts = imagecodecs.version().split(", ")
    lib = next((p for p in parts if p.startswith(library + "-")), library)
    return f"imagecodecs {imagecodecs.__version__} {lib}"


@register("jpeg2000")
class JPEG2000(Codec):
    """OpenJPEG, one quality layer whose distortion target is ``quality`` dB of PSNR."""

    name = "jpeg2000"
    extension = ".jp2"
    default_qualities = (24, 26, 28, 30, 33, 36)

    def version(self):
        return _imagecodecs_version("openjpeg")

    def parse_quality(self, text):
        return float(text) if "." in text else int(text)

    def encode(self, rgb, quality, path):
        Path(path).write_bytes(imagecodecs.jpeg2k_encode(rgb, level=quality, codecformat="jp2", numthreads=1))

    def decode(self, path):
        return _decoded_rgb(imagecodecs.jpeg2k_decode(Path(path).read_bytes(), numthreads=1))


@register("avif")
class AVIF(Codec):
    name = "avif"
    extension = ".avif"
    default_qualities = (15, 25, 35, 45, 55, 60)
    speed = 6

    def version(self):
        return f"{_imagecodecs_version('libavif')} speed {self.speed} yuv444"

    def encode(self, rgb, quality, path):
        data = imagecodecs.avif_encode(rgb, level=int(quality), speed=self.speed, pixelformat="444", numthreads=1)
        Path(path).write_bytes(data)

    def decode(self, path):
        return _decoded_rgb(imagecodecs.avif_decode(Path(path).read_bytes(), numthreads=1))


@register("jpegxl")
class JPEGXL(Codec):
    name = "jpegxl"
    extension = ".jxl"
    default_qualities = (10, 30, 50, 65, 75, 82)
    effort = 7

    def version(self):
        return f"{_imagecodecs_version('libjxl')} effort {self.effort}"

    def encode(self, rgb, quality, path):
        data = imagecodecs.jpegxl_encode(rgb, level=int(quality), effort=self.effort, numthreads=1)
        Path(path).write_bytes(data)

    def decode(self, path):
        return _decoded_rgb(imagecodecs.jpegxl_decode(Path(path).read_bytes(), numthreads=1))


@register("heic")
class HEIC(Codec):
    name = "heic"
    extension = ".heic"
    default_qualities = (15, 20, 25, 30, 40, 50)

    def version(self):
        info = pillow_heif.libheif_info()
        return f"pillow-heif {pillow_heif.__version__} libheif {info['libheif']} {info['HEIF']}"

    def encode(self, rgb, quality, path):
        heif = pillow_heif.from_bytes(mode="RGB", size=(rgb.shape[1], rgb.shape[0]), data=rgb.tobytes())
        heif.save(path, quality=int(quality), chroma=420)

    def decode(self, path):
        heif = pillow_heif.open_heif(path, convert_hdr_to_8bit=True)
        return _decoded_rgb(np.asarray(heif.to_pillow().convert("RGB")))
