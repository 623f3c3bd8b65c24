"""Metrics beyond PSNR-RGB and MS-SSIM for the VTM-17.0 Kodak anchor, from its bitstreams.

    python -m bench.anchor_metrics --shared DIR [--data-root DIR] [--out anchors/vtm17/kodak-metrics.csv]
        [--jobs N]

The shipped anchor (``<shared>/anchors/vtm17/kodak-10bit/``) has bitstreams but no decoded
pictures, and no VTM decoder comes with this repository.  VVC decoding is normative, so ffmpeg's
native VVC decoder (the ffmpeg n9.0.2 of imageio-ffmpeg 0.8.1) gives VTM's reconstruction:
each bitstream is decoded to 10-bit 4:4:4 YCbCr and converted back to 8-bit RGB exactly as the
anchor pipeline does (:func:`bench.colour.ycbcr_to_rgb`, anchors/README.md).  Before a row is
measured, that RGB must reproduce the anchor's shipped PSNR-RGB within 1e-9 dB and its MS-SSIM
within 1e-6 (the shipped values are full float64 reprs; MS-SSIM is float32 arithmetic); a row that
does not is an error and nothing is written.  Then every registered metric beyond the default is
computed by the same code as ``bench run --metrics`` / ``bench metrics`` (:mod:`bench.metrics`),
and the rows are written to ``anchors/vtm17/kodak-metrics.csv``: ``image, quality``, the metric
columns, and the PSNR-RGB / MS-SSIM differences found, per row (rows finished so far are kept in
``kodak-metrics.csv.partial``; a stopped run resumes from there).
:meth:`bench.curves.CurveLibrary.anchor` joins the file to ``kodak.csv`` by (image, quality).
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, Tuple

import numpy as np

from bench.codecs.base import CodecError
from bench.codecs.vvenc import decode_vvc
from bench.colour import ycbcr_to_rgb
from bench.metrics import REGISTRY, DEFAULT, columns_of, compute, ms_ssim_rgb, psnr_rgb
from bench.results import atomic_write, format_value

ROOT = Path(__file__).resolve().parents[1]
#: The shared set the default anchor (anchors/vtm17/kodak.csv) comes from, and its YCbCr bit depth.
SET, BITS = "kodak-10bit", 10
PSNR_TOLERANCE, MS_SSIM_TOLERANCE = 1e-9, 1e-6
METRICS = tuple(m for m in REGISTRY if m not in DEFAULT)


class AnchorMetricsError(ValueError):
    """A bitstream does not reproduce its anchor row.  Reported in one line."""


def measure_row(args: Tuple[dict, Path, Path]) -> Dict[str, str]:
    """One anchor row (as in kodak.csv), its bitstream folder and the Kodak folder -> the output row."""
    row, bitstreams, kodak = args
    from PIL import Image

    stem = Path(row["image"]).stem
    original = np.asarray(Image.open(kodak / row["image"]).convert("RGB"))
    height, width = original.shape[:2]
    try:
        ycbcr = decode_vvc(bitstreams / f"{stem}_qp{row['quality']}.bin", width, height)
    except CodecError as e:
        raise AnchorMetricsError(f"{stem} QP {row['quality']}: {e}") from None
    decoded = ycbcr_to_rgb(ycbcr, BITS)
    psnr_gap = abs(psnr_rgb(original, decoded) - float(row["psnr_rgb"]))
    ms_ssim_gap = abs(ms_ssim_rgb(original, decoded) - float(row["ms_ssim_rgb"]))
    if not (psnr_gap <= PSNR_TOLERANCE and ms_ssim_gap <= MS_SSIM_TOLERANCE):
        raise AnchorMetricsError(f"{stem} QP {row['quality']}: the decoded bitstream is off the anchor row by "
                                 f"{psnr_gap:.3g} dB PSNR-RGB, {ms_ssim_gap:.3g} MS-SSIM")
    values, _ = compute(original, decoded, [REGISTRY[m] for m in METRICS])
    return {"image": row["image"], "quality": row["quality"],
            **{c: format_value(c, v) for c, v in values.items()},
            "psnr_rgb_gap": f"{psnr_gap:.3g}", "ms_ssim_rgb_gap": f"{ms_ssim_gap:.3g}"}


def _one_thread() -> None:
    """A worker: one torch thread (the workers share the cores)."""
    import torch

    torch.set_num_threads(1)


def _text(rows, columns) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def build(shared: Path, kodak: Path, anchor: Path, out: Path, jobs: int = 1) -> None:
    """Measure the anchor rows in ``anchor`` (kodak.csv) and write the metrics file ``out``.

    Rows are kept as they finish in ``<out>.partial`` (atomically), so a stopped run resumes
    there; ``out`` is written, in kodak.csv's row order, once every row is measured."""
    with open(anchor, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = ["image", "quality", *columns_of(REGISTRY[m] for m in METRICS), "psnr_rgb_gap", "ms_ssim_rgb_gap"]
    partial = out.with_name(out.name + ".partial")
    done: Dict[Tuple[str, str], dict] = {}
    if partial.is_file():
        with open(partial, newline="") as f:
            done = {(r["image"], r["quality"]): r for r in csv.DictReader(f)}
    bitstreams = shared / "anchors" / "vtm17" / SET / "bitstreams"
    work = [(r, bitstreams, kodak) for r in rows if (r["image"], r["quality"]) not in done]
    with ProcessPoolExecutor(jobs, initializer=_one_thread) as pool:
        for measured in pool.map(measure_row, work):
            done[(measured["image"], measured["quality"])] = measured
            atomic_write(partial, _text(list(done.values()), columns))
    atomic_write(out, _text([done[(r["image"], r["quality"])] for r in rows], columns))
    partial.unlink()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.anchor_metrics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=os.environ.get("SEGPIC_SHARED"),
                        help="the shared folder holding anchors/vtm17/ (default: $SEGPIC_SHARED)")
    parser.add_argument("--data-root", type=Path, help="folder holding kodak/ (default: <shared>/data)")
    parser.add_argument("--anchor", type=Path, default=ROOT / "anchors" / "vtm17" / "kodak.csv")
    parser.add_argument("--out", type=Path, default=ROOT / "anchors" / "vtm17" / "kodak-metrics.csv")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.shared is None or not (Path(args.shared) / "anchors" / "vtm17" / SET).is_dir():
        print(f"error: no anchors/vtm17/{SET}/ under {args.shared or 'the shared folder'} "
              "(pass --shared DIR or set SEGPIC_SHARED)", file=sys.stderr)
        return 2
    kodak = (args.data_root or Path(args.shared) / "data") / "kodak"
    try:
        build(Path(args.shared), kodak, args.anchor, args.out, max(1, args.jobs))
    except (AnchorMetricsError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
