"""Parse the console output of VTM's ``EncoderAppStatic`` (one log per coded image).

The lines read, as VTM-17.0 prints them::

    # EncoderAppStatic -i kodim01_qp27.yuv ... --InputBitDepth=8 ...   (optional, written by bench)
    VVCSoftware: VTM Encoder Version 17.0 [Linux][GCC 12.2.0][64 bit] [SIMD=AVX2]
    POC    0 LId:  0 TId: 0 ( IDR_N_LP, I-SLICE, QP 27 )     572760 bits [Y 37.1808 dB ...
    	Total Frames |  Bitrate      Y-PSNR   U-PSNR   V-PSNR   YUV-PSNR
    	1            a  71.5950      37.1808  47.8792  46.9267  41.1922
     Total Time:      118.524 sec. [user]      119.213 sec. [elapsed]

``bits`` is the sum of the per-picture bit counts.  It counts every Annex-B byte VTM writes
(start codes and parameter sets included): for all 192 shipped Kodak anchor logs, bits / 8 equals
the .bin file size exactly.  VTM computes these PSNRs in YCbCr at its internal bit depth
with peak 255 << (bit depth - 8): they are not the PSNR-RGB that the benchmark reports.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

_VERSION = re.compile(r"VTM Encoder Version\s+(\S+)")
_PICTURE = re.compile(r"^POC\s+\d+.*\bQP\s+(-?\d+)\s*\)\s+(\d+)\s+bits")
_SUMMARY_HEAD = re.compile(r"Total Frames\s*\|\s*Bitrate\s+Y-PSNR\s+U-PSNR\s+V-PSNR\s+YUV-PSNR")
_SUMMARY_ROW = re.compile(r"^\s*(\d+)\s+a\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)")
_TIME = re.compile(r"Total Time:\s+([\d.]+)\s+sec\."
                   r"(?:\s+\[user\]\s+([\d.]+)\s+sec\.\s+\[elapsed\])?")
_INPUT_BITS = re.compile(r"--InputBitDepth=(\d+)")


class VtmLogError(ValueError):
    """The text is not a complete VTM encoder log."""


@dataclass(frozen=True)
class VtmLog:
    """What one VTM encoder run reports.

    Attributes:
        version: encoder version from the banner, e.g. ``"17.0"``.
        qp: the slice QP of the first picture.
        frames: number of coded pictures.
        bits: coded bits, summed over pictures.
        psnr_y, psnr_u, psnr_v, psnr_yuv: the summary PSNRs (dB, YCbCr, see module docstring).
        total_time_s: encoder wall-clock seconds (elapsed; user time where only that is printed).
        command: the command line recorded on the first ``#`` line, if any.
        input_bit_depth: ``--InputBitDepth`` of that command line, if given there.
    """

    version: str
    qp: int
    frames: int
    bits: int
    psnr_y: float
    psnr_u: float
    psnr_v: float
    psnr_yuv: float
    total_time_s: float
    command: Optional[str] = None
    input_bit_depth: Optional[int] = None

    @property
    def bytes(self) -> float:
        """``bits / 8``: the bitstream size in bytes."""
        return self.bits / 8


def parse_vtm_log(text: str) -> VtmLog:
    """Parse the text of one encoder log.  Raises :class:`VtmLogError` naming what is missing."""
    lines = text.splitlines()
    command = lines[0][1:].strip() if lines and lines[0].startswith("#") else None
    version = _VERSION.search(text)
    pictures = [m for m in map(_PICTURE.match, lines) if m]
    summary = None
    for i, line in enumerate(lines[:-1]):
        if _SUMMARY_HEAD.search(line):
            summary = _SUMMARY_ROW.match(lines[i + 1])
            break
    time = _TIME.search(text)
    needed = (("version banner", version), ("picture line", pictures),
              ("PSNR summary", summary), ("Total Time", time))
    missing = [what for what, found in needed if not found]
    if missing:
        raise VtmLogError(f"not a complete VTM encoder log (no {', '.join(missing)})")
    bits_match = _INPUT_BITS.search(command) if command else None
    return VtmLog(
        version=version.group(1),
        qp=int(pictures[0].group(1)),
        frames=int(summary.group(1)),
        bits=sum(int(m.group(2)) for m in pictures),
        psnr_y=float(summary.group(3)),
        psnr_u=float(summary.group(4)),
        psnr_v=float(summary.group(5)),
        psnr_yuv=float(summary.group(6)),
        total_time_s=float(time.group(2) or time.group(1)),
        command=command,
        input_bit_depth=int(bits_match.group(1)) if bits_match else None,
    )


def read_vtm_log(path: Path) -> VtmLog:
    """Parse the log file at ``path``; errors name the file."""
    try:
        return parse_vtm_log(Path(path).read_text(errors="replace"))
    except VtmLogError as e:
        raise VtmLogError(f"{path}: {e}") from None
