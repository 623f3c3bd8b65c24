"""Codec ``vvenc``: VVenC (a fast VVC encoder, not VTM) through the ffmpeg of imageio-ffmpeg.

A VVC curve anyone can regenerate without building VTM.  The pipeline is the anchors' (see
bench/codecs/vtm.py) as far as the ffmpeg build allows::

    RGB 8-bit -> YCbCr BT.709 full range, rounded to 10 bits
        -> 4:2:0 (2x2 means) when libvvenc takes no 4:4:4, as in imageio-ffmpeg 0.8.1
    ffmpeg -f rawvideo -pix_fmt yuv420p10le -s WxH -i in.yuv -frames:v 1 -c:v libvvenc
        -preset P -qp QP -qpa 0 -threads 1 -f vvc out.266          (one intra picture)
    ffmpeg -f vvc -i out.266 -f rawvideo -pix_fmt yuv420p10le rec.yuv  (native VVC decoder)
    -> chroma interpolated back to 4:4:4 -> RGB 8-bit, rounded and clipped

The file written is the raw VVC bitstream (Annex B), so bpp counts nothing else.  4:2:0 VVC
codes even sizes only: an odd width or height is padded by one replicated column or row, which
decoding drops.  The console output goes to ``<stem>.log``; its second line records the picture
and coded sizes that decoding reads back.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from bench.codecs.base import Codec, CodecError, register
from bench.colour import (read_yuv, rgb_to_ycbcr, subsample_420, upsample_420, write_yuv,
                          ycbcr_to_rgb)

BITS = 10
PRESETS = ("faster", "fast", "medium", "slow", "slower")
_SIZES = re.compile(r"^# picture (\d+)x(\d+) coded (\d+)x(\d+) (444|420)$", re.M)


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
        raise CodecError(f"vvenc needs the ffmpeg of the imageio-ffmpeg package: {e}") from None


def _short(args: Sequence[str]) -> str:
    """The command line with every path reduced to its file name."""
    return " ".join(os.path.basename(a) if os.sep in a else a for a in args)


@register("vvenc")
class VVenC(Codec):
    """VVenC all-intra at a fixed QP, decoded by ffmpeg's native VVC decoder.

    Args:
        vvenc_preset: VVenC's speed preset (``faster`` ... ``slower``; default ``medium``).
    """

    name = "vvenc"
    extension = ".266"
    # Kodak means at preset medium (measured): QP 32 0.666 bpp, 37 0.361, 42 0.177, 47 0.080;
    # these span the vtm17 anchor's 0.11 to 0.88 bpp
    default_qualities = (30, 35, 40, 45)

    def __init__(self, vvenc_preset: str = "medium"):
        if vvenc_preset not in PRESETS:
            raise CodecError(f"--vvenc-preset must be one of {', '.join(PRESETS)}, "
                             f"not {vvenc_preset!r}")
        self.preset = vvenc_preset
        self.ffmpeg = _ffmpeg()
        encoders = self._query("-encoders")
        decoders = self._query("-decoders")
        if not re.search(r"^\s*V\S*\s+libvvenc\s", encoders, re.M):
            raise CodecError(f"the ffmpeg of imageio-ffmpeg ({self.ffmpeg}) has no libvvenc "
                             "encoder, so codec vvenc is unavailable")
        if not re.search(r"^\s*V\S*\s+(vvc|libvvdec)\s", decoders, re.M):
            raise CodecError(f"the ffmpeg of imageio-ffmpeg ({self.ffmpeg}) has no VVC decoder "
                             "(vvc or libvvdec), so codec vvenc is unavailable")
        formats = re.search(r"Supported pixel formats:(.*)", self._query("-h", "encoder=libvvenc"))
        self.chroma = "444" if formats and "yuv444p10le" in formats.group(1) else "420"
        self.pix_fmt = f"yuv{self.chroma}p10le"
        banner = self._query("-version").splitlines()[0]
        self._ffmpeg_version = banner.split()[2] if banner.startswith("ffmpeg version") else "?"
        self._libvvenc = None

    def _query(self, *args: str) -> str:
        try:
            out = subprocess.run([self.ffmpeg, "-hide_banner", *args], capture_output=True,
                                 text=True, errors="replace", timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise CodecError(f"cannot run {self.ffmpeg}: {e}") from None
        return out.stdout + out.stderr

    def version(self) -> str:
        if self._libvvenc is None:        # libvvenc prints its version only when it encodes
            with tempfile.TemporaryDirectory(prefix=".vvenc-version.") as tmp:
                self.encode(np.full((64, 64, 3), 128, np.uint8), 42, Path(tmp) / "probe.266")
        return (f"VVenC {self._libvvenc} (libvvenc in ffmpeg {self._ffmpeg_version}; "
                f"preset {self.preset}, QPA off) YCbCr-BT.709 {self.chroma} 10-bit; not VTM")

    def encode(self, rgb: np.ndarray, quality, path: Path) -> None:
        path = Path(path)
        height, width = rgb.shape[:2]
        if self.chroma == "420":
            rgb = np.pad(rgb, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        coded_h, coded_w = rgb.shape[:2]
        ycc = rgb_to_ycbcr(rgb, BITS)
        planes = subsample_420(ycc, BITS) if self.chroma == "420" else list(ycc)
        with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as tmp:
            yuv = os.path.join(tmp, f"{path.stem}.yuv")
            out_tmp = os.path.join(tmp, path.name)
            write_yuv(yuv, planes, BITS)
            args = [self.ffmpeg, "-hide_banner", "-nostdin", "-nostats",
                    "-f", "rawvideo", "-pix_fmt", self.pix_fmt, "-s", f"{coded_w}x{coded_h}",
                    "-color_range", "pc", "-colorspace", "bt709", "-i", yuv, "-frames:v", "1",
                    "-c:v", "libvvenc", "-preset", self.preset, "-qp", str(int(quality)),
                    "-qpa", "0", "-threads", "1", "-f", "vvc", "-y", out_tmp]
            out = _run(args, path)
            found = re.search(r"libvvenc version:\s*(\S+)", out)
            self._libvvenc = found.group(1) if found else "version unknown"
            if not os.path.getsize(out_tmp):
                raise CodecError(f"libvvenc wrote an empty bitstream for {path.name}")
            log_tmp = os.path.join(tmp, f"{path.stem}.log")
            Path(log_tmp).write_text(f"# {_short(args)}\n# picture {width}x{height} coded "
                                     f"{coded_w}x{coded_h} {self.chroma}\n{out}")
            os.replace(log_tmp, path.with_suffix(".log"))
            os.replace(out_tmp, path)

    def decode(self, path: Path) -> np.ndarray:
        path = Path(path)
        log = path.with_suffix(".log")
        try:
            sizes = _SIZES.search(log.read_text(errors="replace"))
        except OSError:
            sizes = None
        if not sizes:
            raise CodecError(f"{log} (the encoder log, giving the picture size) is missing "
                             "or unreadable")
        width, height, coded_w, coded_h = (int(g) for g in sizes.groups()[:4])
        ycc = decode_vvc(path, coded_w, coded_h, sizes.group(5), self.ffmpeg)
        return ycbcr_to_rgb(ycc, BITS)[:height, :width]


def decode_vvc(path: Path, width: int, height: int, chroma: str = "444",
               ffmpeg: Optional[str] = None) -> np.ndarray:
    """A VVC bitstream (Annex B) of one ``width`` x ``height`` picture, coded at 10 bits,
    decoded by ffmpeg's native VVC decoder: planar YCbCr 4:4:4, shape (3, H, W), uint16 on the
    10-bit scale (``chroma`` ``"420"``: chroma interpolated back, :func:`upsample_420`).
    Decodes the vvenc codec's streams and the shipped VTM-17.0 anchor bitstreams alike; only the
    first picture is written out (a stream holding more is not decoded further), and a picture of
    any other size is refused (:func:`read_yuv` checks the output's size)."""
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix=f".{path.stem}.") as tmp:
        rec = os.path.join(tmp, f"{path.stem}.rec.yuv")
        _run([ffmpeg or _ffmpeg(), "-hide_banner", "-nostdin", "-nostats", "-f", "vvc", "-i", str(path),
              "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", f"yuv{chroma}p10le", "-y", rec], path)
        try:
            planes = read_yuv(rec, width, height, BITS, chroma)
        except ValueError as e:
            raise CodecError(f"decoder output: {e}") from None
    return upsample_420(planes) if chroma == "420" else np.stack(planes)


def _run(args: Sequence[str], path: Path) -> str:
    out = subprocess.run(args, capture_output=True, text=True, errors="replace")
    if out.returncode != 0:
        errors = [line for line in out.stderr.splitlines() if "rror" in line]
        tail = (errors or out.stderr.strip().splitlines() or ["no output"])[-1]
        raise CodecError(f"ffmpeg failed on {path.name} (exit {out.returncode}): {tail}")
    return out.stdout + out.stderr
