"""Build the shipped ``vtm17`` anchor files from the shared folder (do not edit them by hand).

    python -m bench.anchors_build --shared DIR [--out anchors/vtm17]

Writes, under ``--out``:

- ``kodak.csv``: the ``vtm17`` Kodak anchor, VTM-17.0 all-intra with 10-bit YCbCr input
  (``<shared>/anchors/vtm17/kodak-10bit/``; its README shows it reproduces the published
  BD-rates against VTM-17.0).  ``bench bdrate --anchor vtm17 --dataset kodak`` reads it.
- ``kodak-8bit.csv``: the same encoder with 8-bit YCbCr input (``<shared>/anchors/vtm17/kodak/``),
  a slightly weaker anchor kept for comparison (pass it as ``--anchor FILE``).
- ``clic2020-pro-valid.csv``: the published VTM-17.0 intra points on CLIC2020 professional valid
  (``<shared>/reference/rd/vtm_anchors.csv``), curve rows with the source kept verbatim.

The Kodak files hold one row per image and QP in the results format, the numbers copied from the
set's ``points.csv`` after checking them against its encoder logs and bitstreams (QP, VTM version,
input bit depth, bytes = log bits / 8 = .bin size, bpp = bytes x 8 / (W x H)).
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List

from bench.curves import PER_IMAGE_COLUMNS
from bench.metrics import to_db
from bench.published import PublishedError, curve_csv, read_reference, vtm17_clic_rows
from bench.results import atomic_write
from bench.vtmlog import VtmLogError, read_vtm_log

CFG = "encoder_intra_vtm.cfg"


class AnchorError(ValueError):
    """The shared anchor set is incomplete or inconsistent.  Reported in one line."""


@dataclass(frozen=True)
class KodakSet:
    """One shared VTM-17.0 Kodak set and the anchor file made from it."""

    folder: str
    input_bits: int
    out_name: str


KODAK_SETS = (KodakSet("kodak-10bit", 10, "kodak.csv"), KodakSet("kodak", 8, "kodak-8bit.csv"))


def codec_version(input_bits: int) -> str:
    """What ``bench run --models vtm`` records for a VTM-17.0 build at this input bit depth."""
    return f"VTM-17.0 {CFG} YCbCr-BT.709 4:4:4 {input_bits}-bit input"


def kodak_rows(root: Path, kodak: KodakSet) -> List[dict]:
    """Per-image rows of one set, each checked against its log and bitstream."""
    folder = root / "anchors" / "vtm17" / kodak.folder
    try:
        with open(folder / "points.csv", newline="") as f:
            points = list(csv.DictReader(f))
    except OSError as e:
        raise AnchorError(f"cannot read {folder / 'points.csv'}: {e.strerror}") from None
    rows = []
    for p in points:
        stem = f"{p['image']}_qp{p['qp']}"
        where = f"{kodak.folder}/{stem}"
        try:
            log = read_vtm_log(folder / "logs" / f"{stem}.log")
            size = (folder / "bitstreams" / f"{stem}.bin").stat().st_size
        except (OSError, VtmLogError) as e:
            raise AnchorError(f"{where}: {e}") from None
        width, height, nbytes = int(p["width"]), int(p["height"]), int(p["bytes"])
        checks = {"VTM version 17.0": log.version == "17.0",
                  f"QP {p['qp']} in the log": log.qp == int(p["qp"]),
                  f"--InputBitDepth={kodak.input_bits}": log.input_bit_depth == kodak.input_bits,
                  "bytes = log bits / 8 = .bin size": nbytes * 8 == log.bits and nbytes == size,
                  "bpp = bytes x 8 / (W x H)": math.isclose(float(p["bpp"]),
                                                            nbytes * 8 / (width * height))}
        failed = [what for what, ok in checks.items() if not ok]
        if failed:
            raise AnchorError(f"{where}: points.csv disagrees with its log/bitstream "
                              f"({', '.join(failed)})")
        rows.append({
            "dataset": "kodak", "image": f"{p['image']}.png", "width": p["width"], "height": p["height"],
            "codec": "vtm", "codec_version": codec_version(kodak.input_bits), "quality": p["qp"],
            "bytes": p["bytes"], "bpp": p["bpp"], "psnr_rgb": p["psnr_rgb"],
            "ms_ssim_rgb": p["ms_ssim_rgb"], "ms_ssim_db": repr(to_db(float(p["ms_ssim_rgb"]))),
            "encode_s": p["enc_seconds"], "decode_s": p["dec_seconds"],
            "source": f"shared/anchors/vtm17/{kodak.folder} (points.csv, logs/{stem}.log)"})
    rows.sort(key=lambda r: (r["image"], int(r["quality"])))
    return rows


def per_image_csv(rows: List[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PER_IMAGE_COLUMNS + ("source",), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def build(shared: Path, out: Path) -> List[Path]:
    """Write every anchor file under ``out``; returns their paths."""
    texts = {k.out_name: per_image_csv(kodak_rows(shared, k)) for k in KODAK_SETS}
    clic = vtm17_clic_rows(read_reference(shared))
    if not clic:
        raise AnchorError("no VTM-17.0 CLIC2020 points in reference/rd/vtm_anchors.csv")
    texts["clic2020-pro-valid.csv"] = curve_csv(clic)
    for name, text in texts.items():
        atomic_write(out / name, text)
    return [out / name for name in texts]


def main(argv=None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(prog="python -m bench.anchors_build", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=os.environ.get("SEGPIC_SHARED"),
                        help="the shared folder holding anchors/vtm17/ and reference/rd/ "
                             "(default: $SEGPIC_SHARED)")
    parser.add_argument("--out", type=Path, default=root / "anchors" / "vtm17")
    args = parser.parse_args(argv)
    if args.shared is None or not (Path(args.shared) / "anchors" / "vtm17").is_dir():
        print(f"error: no anchors/vtm17/ under {args.shared or 'the shared folder'} "
              "(pass --shared DIR or set SEGPIC_SHARED)", file=sys.stderr)
        return 2
    try:
        paths = build(Path(args.shared), args.out)
    except (AnchorError, PublishedError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
