"""VMAF by libvmaf inside the pinned imageio-ffmpeg's ffmpeg (``-lavfi libvmaf``).

The model is libvmaf's built-in default, ``vmaf_v0.6.1`` (the filter's ``model`` default;
the ffmpeg n9.0.2 of imageio-ffmpeg 0.8.1 reports libvmaf version ``86da14d``), scores not
clipped beyond what that model does, one frame, one thread.  VMAF reads luma only; it gets Y
as 8-bit samples (BT.709 full range, rounded: :attr:`bench.metrics.pair.Pair.y8`) in a
``yuv444p`` frame whose chroma is a constant 128, so the chroma conversion cannot matter.
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import numpy as np

#: The libvmaf model; recorded here and in the README.
MODEL = "vmaf_v0.6.1"


def _write_frame(path: Path, y: np.ndarray) -> None:
    neutral = np.full(2 * y.size, 128, np.uint8)
    np.concatenate([np.ascontiguousarray(y, np.uint8).ravel(), neutral]).tofile(path)


def score(reference_y: np.ndarray, distorted_y: np.ndarray) -> dict:
    """libvmaf's JSON log of one frame: ``{"vmaf": score, "version": libvmaf version}``.

    Args:
        reference_y, distorted_y: (H, W) uint8 luma planes.
    Raises RuntimeError when ffmpeg fails (with its last message line)."""
    import imageio_ffmpeg

    height, width = reference_y.shape
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv444p", "-s", f"{width}x{height}", "-i"]
    with tempfile.TemporaryDirectory(prefix="bench-vmaf-") as tmp:
        tmp = Path(tmp)
        _write_frame(tmp / "ref.yuv", reference_y)
        _write_frame(tmp / "dist.yuv", distorted_y)
        log = tmp / "vmaf.json"
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-v", "error", *raw, str(tmp / "dist.yuv"),
                   *raw, str(tmp / "ref.yuv"), "-lavfi",
                   f"libvmaf=model=version={MODEL}:log_fmt=json:log_path={log}:n_threads=1", "-f", "null", "-"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not log.is_file():
            lines = (done.stderr or "no message").strip().splitlines()
            raise RuntimeError(f"ffmpeg libvmaf failed: {lines[-1] if lines else 'no message'}")
        document = json.loads(log.read_text())
    return {"vmaf": float(document["frames"][0]["metrics"]["vmaf"]), "version": document.get("version", "")}


def vmaf(pair) -> dict:
    reference, distorted = pair.y8
    return {"vmaf": score(reference, distorted)["vmaf"]}
