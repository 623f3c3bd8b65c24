"""Codec ``vtm``: a VTM build (the VVC reference software) in all-intra, the anchors' pipeline.

For each image and QP (anchors/README.md gives the reasons)::

    RGB 8-bit -> YCbCr BT.709 full range, rounded to 8 (or 10) bits, planar 4:4:4 -> in.yuv
    EncoderAppStatic -i in.yuv -c encoder_intra_vtm.cfg -q QP -o /dev/null -b out.bin -wdt W
        -hgt H -fr 1 -f 1 --InputChromaFormat=444 --InputBitDepth=B --ConformanceWindowMode=1
    DecoderAppStatic -b out.bin -o rec.yuv -d B
    rec.yuv -> RGB 8-bit, rounded and clipped

The encoder's console output is kept as ``<stem>.log`` next to the bitstream, its first line the
command with paths reduced to file names (the format of the shipped anchor logs); the decoder
reads the picture size back from it.  The YUV files live in a temporary folder beside the
bitstream that is removed whatever happens.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from bench.codecs.base import Codec, CodecError, register
from bench.colour import read_yuv, rgb_to_ycbcr, write_yuv, ycbcr_to_rgb
from bench.vtmlog import VtmLogError, read_vtm_log

EXPECTED_VERSION = "17.0"
#: The YCbCr input bit depth of the default vtm17 Kodak anchor (anchors/vtm17/kodak.csv).
ANCHOR_INPUT_BITS = 10
_BANNER = re.compile(r"VTM Encoder Version\s+(\S+)")
_FORMAT = re.compile(r"-wdt (\d+) -hgt (\d+) .*--InputBitDepth=(\d+)")

NO_BUILD = ("no VTM build found{where}: pass --vtm-dir or set VTM_DIR to a VTM-17.0 tree with "
            "bin/EncoderAppStatic and bin/DecoderAppStatic (the shipped anchors in anchors/vtm17/ "
            "still work for `bdrate --anchor vtm17`)")


def _short(args: Sequence[str]) -> str:
    """The command line with every path reduced to its file name (as in the anchor logs)."""
    return " ".join(os.path.basename(a) if os.sep in a and a != os.devnull else a for a in args)


@register("vtm")
class VTM(Codec):
    """VTM all-intra through files.

    Args:
        vtm_dir: the VTM tree (``bin/EncoderAppStatic``, ``bin/DecoderAppStatic``, ``cfg/``);
            default: the ``VTM_DIR`` environment variable.
        vtm_cfg: encoder config; default ``<vtm_dir>/cfg/encoder_intra_vtm.cfg``.
        vtm_input_bits: bit depth of the YCbCr fed to the encoder, 8 or 10; default
            :data:`ANCHOR_INPUT_BITS`, what the default ``vtm17`` Kodak anchor used, so that a
            run compares with it.  The version string (a row's ``codec_version``) states it.
    """

    name = "vtm"
    extension = ".bin"
    default_qualities = (27, 32, 37, 42)

    def __init__(self, vtm_dir: Optional[str] = None, vtm_cfg: Optional[str] = None,
                 vtm_input_bits: int = ANCHOR_INPUT_BITS):
        if str(vtm_input_bits) not in ("8", "10"):
            raise CodecError(f"--vtm-input-bits must be 8 or 10, not {vtm_input_bits}")
        self.bits = int(vtm_input_bits)
        root = vtm_dir or os.environ.get("VTM_DIR")
        if not root:
            raise CodecError(NO_BUILD.format(where=""))
        root = Path(root)
        self.encoder = root / "bin" / "EncoderAppStatic"
        self.decoder = root / "bin" / "DecoderAppStatic"
        self.cfg = Path(vtm_cfg) if vtm_cfg else root / "cfg" / "encoder_intra_vtm.cfg"
        for tool in (self.encoder, self.decoder):
            if not os.access(tool, os.X_OK):
                raise CodecError(NO_BUILD.format(where=f" ({tool} is not an executable)"))
        if not self.cfg.is_file():
            raise CodecError(f"VTM config not found: {self.cfg} (pass --vtm-cfg)")
        self._version = self._read_version()

    def _read_version(self) -> str:
        """The version in the encoder's banner (printed when it runs without arguments)."""
        try:
            out = subprocess.run([str(self.encoder)], capture_output=True, text=True,
                                 errors="replace", timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise CodecError(f"cannot run {self.encoder}: {e}") from None
        m = _BANNER.search(out.stdout + out.stderr)
        if not m:
            raise CodecError(f"{self.encoder} printed no 'VTM Encoder Version' banner")
        if m.group(1) != EXPECTED_VERSION:
            warnings.warn(f"\n{'!' * 72}\n  {self.encoder} is VTM {m.group(1)}, not "
                          f"{EXPECTED_VERSION}: its points are NOT comparable with the VTM-17.0 "
                          f"anchors or the paper's numbers\n{'!' * 72}", stacklevel=3)
        return m.group(1)

    def version(self) -> str:
        return f"VTM-{self._version} {self.cfg.name} YCbCr-BT.709 4:4:4 {self.bits}-bit input"

    def encode(self, rgb: np.ndarray, quality, path: Path) -> None:
        path = Path(path)
        height, width = rgb.shape[:2]
        with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as tmp:
            yuv = os.path.join(tmp, f"{path.stem}.yuv")
            bin_tmp = os.path.join(tmp, path.name)
            write_yuv(yuv, rgb_to_ycbcr(rgb, self.bits), self.bits)
            args = [str(self.encoder), "-i", yuv, "-c", str(self.cfg), "-q", str(int(quality)),
                    "-o", os.devnull, "-b", bin_tmp, "-wdt", str(width), "-hgt", str(height),
                    "-fr", "1", "-f", "1", "--InputChromaFormat=444",
                    f"--InputBitDepth={self.bits}", "--ConformanceWindowMode=1"]
            out = self._run(args, path)
            log_tmp = os.path.join(tmp, path.stem + ".log")
            Path(log_tmp).write_text(f"# {_short(args)}\n{out}")
            try:
                log = read_vtm_log(log_tmp)
            except VtmLogError as e:
                raise CodecError(f"{path.name}: {e}") from None
            if log.qp != int(quality):
                raise CodecError(f"{path.name}: the encoder coded QP {log.qp}, not {quality}")
            os.replace(log_tmp, path.with_suffix(".log"))
            os.replace(bin_tmp, path)

    def decode(self, path: Path) -> np.ndarray:
        path = Path(path)
        width, height, bits = self._format(path)
        with tempfile.TemporaryDirectory(prefix=f".{path.stem}.", dir=path.parent) as tmp:
            rec = os.path.join(tmp, f"{path.stem}.rec.yuv")
            self._run([str(self.decoder), "-b", str(path), "-o", rec, "-d", str(bits)], path)
            try:
                planes = read_yuv(rec, width, height, bits)
            except ValueError as e:
                raise CodecError(f"decoder output: {e}") from None
        return ycbcr_to_rgb(np.stack(planes), bits)

    @staticmethod
    def _format(path: Path):
        """Width, height and input bit depth from the command line in the log beside ``path``."""
        log = path.with_suffix(".log")
        try:
            m = _FORMAT.search(log.read_text(errors="replace").split("\n", 1)[0])
        except OSError:
            m = None
        if not m:
            raise CodecError(f"{log} (the encoder log, giving the picture format) is missing "
                             "or unreadable")
        return tuple(int(g) for g in m.groups())

    @staticmethod
    def _run(args: Sequence[str], path: Path) -> str:
        try:
            out = subprocess.run(args, capture_output=True, text=True, errors="replace")
        except OSError as e:
            raise CodecError(f"cannot run {args[0]}: {e}") from None
        if out.returncode != 0:
            tail = (out.stderr.strip() or out.stdout.strip() or "no output").splitlines()[-1]
            raise CodecError(f"{os.path.basename(args[0])} failed on {path.name} "
                             f"(exit {out.returncode}): {tail}")
        return out.stdout + out.stderr
