"""Published reference RD curves: from ``<shared>/reference/rd/*.csv`` to ``anchors/published/``.

Each published curve gets a stable name (``segpic-paper``) and a display label
(``SegPIC (paper)``), and each published dataset label a dataset name.  Only labels that name a
set without doubt map to the project's datasets (``kodak``, ``clic2020-pro-valid``,
``tecnick-100``); "Tecnick" and "CLIC" each name several sets, so every other label keeps a name
of its own (``clic2020-pro-split-unstated``, ``tecnick-sampling-rgb-1200`` ...) and never meets
a curve of ours.  CompressAI's Kodak ``vtm.json`` (VTM version unrecorded) is ``vtm-compressai``,
not the ``vtm17`` anchor.

Output: one file per codec family and dataset, ``anchors/published/<family>_<dataset>.csv``,
columns ``codec,dataset,point,bpp,psnr_rgb,ms_ssim_rgb,source`` (codec = the stable name; numbers
and source text copied verbatim), and ``anchors/published/README.md`` listing every curve.

    python -m bench.published --shared DIR [--out anchors/published] [--vtm17-clic FILE]

``--vtm17-clic`` also writes the published VTM-17.0 CLIC2020 points as the ``vtm17`` anchor file.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

from bench.results import atomic_write

CURVE_COLUMNS = ("codec", "dataset", "point", "bpp", "psnr_rgb", "ms_ssim_rgb", "source")
SOURCE_FILES = ("learned_codecs.csv", "vtm_anchors.csv", "classical_anchors.csv")
REFERENCE_COLUMNS = ("codec", "dataset", "point", "bpp", "psnr", "ms_ssim", "source")
VTM17_CLIC_LABEL = "VTM-17.0 intra (provided by Wei Jiang/MLIC author)"


@dataclass(frozen=True)
class PublishedCodec:
    """How one published codec label becomes a curve of ours: file family, stable name, label."""

    family: str
    name: str
    label: str


# Published dataset label -> dataset name.  Only the first three are the project's datasets.
DATASETS: Dict[str, str] = {
    "Kodak (24 img)": "kodak",
    "CLIC2020-professional-valid (41 img)": "clic2020-pro-valid",
    "Tecnick (100 img, 1200x1200)": "tecnick-100",
    "CLIC2020-professional (split not stated in repo)": "clic2020-pro-split-unstated",
    "CLIC2020-mobile": "clic2020-mobile-split-unstated",
    "CLIC2020-mobile (split not stated in repo)": "clic2020-mobile-split-unstated",
    "CLIC (file name says CLIC; split not stated in repo)": "clic-split-unstated",
    "CLIC2021-test (per results/README.md note)": "clic2021-test",
    "CLIC-professional-valid (per thread)": "clic-pro-valid-per-thread",
    "Tecnick (per thread)": "tecnick-per-thread",
    "Tecnick (100 img, 1200x1200, SAMPLING RGB set)": "tecnick-sampling-rgb-1200",
}


def _zoo(model: str, opt: str, recon: str = "cuda, float recon") -> tuple:
    """A CompressAI zoo label and its curve (``bench`` results of CompressAI's own models)."""
    tag = "msssim" if opt == "ms-ssim" else "mse"
    suffix = "-8bit" if recon.startswith("8-bit") else ""
    label = f"{model} {opt.upper()}-opt{' 8-bit' if suffix else ''} (CompressAI zoo)"
    return (f"CompressAI zoo {model} ({opt}-opt, {recon})",
            PublishedCodec("compressai-zoo", f"{model}-{tag}{suffix}-compressai", label))


# Published codec label (column ``codec`` of reference/rd) -> curve.
CODECS: Dict[str, PublishedCodec] = {
    "SegPIC (ECCV24, MSE)": PublishedCodec("segpic", "segpic-paper", "SegPIC (paper)"),
    "STF (CVPR22, MSE)": PublishedCodec("stf", "stf-paper", "STF (paper)"),
    "STF (CVPR22, MS-SSIM-opt)": PublishedCodec("stf", "stf-msssim-paper",
                                                "STF MS-SSIM-opt (paper)"),
    'WACNN/"CNN" (STF paper, MSE)': PublishedCodec("wacnn", "wacnn-paper", "WACNN (paper)"),
    'WACNN/"CNN" (MS-SSIM-opt)': PublishedCodec("wacnn", "wacnn-msssim-paper",
                                                "WACNN MS-SSIM-opt (paper)"),
    "MLIC (ACMMM23, MSE)": PublishedCodec("mlic", "mlic-paper", "MLIC (paper)"),
    "MLIC+ (ACMMM23, MSE)": PublishedCodec("mlic", "mlicplus-paper", "MLIC+ (paper)"),
    "MLIC++ (MSE)": PublishedCodec("mlic", "mlicplusplus-paper", "MLIC++ (authors)"),
    "LIC-TCM Large (CVPR23, MSE)": PublishedCodec("tcm", "tcm-large-paper", "TCM large (paper)"),
    "LIC-TCM Middle (CVPR23, MSE)": PublishedCodec("tcm", "tcm-middle-paper",
                                                   "TCM middle (paper)"),
    "LIC-TCM Small (CVPR23, MSE)": PublishedCodec("tcm", "tcm-small-paper", "TCM small (paper)"),
    "ELIC (CVPR22, official numbers, MSE)": PublishedCodec("elic", "elic-paper", "ELIC (paper)"),
    "ELIC (official, MSE)": PublishedCodec("elic", "elic-paper", "ELIC (paper)"),
    "ELIC (official, MS-SSIM-opt)": PublishedCodec("elic", "elic-msssim-paper",
                                                   "ELIC MS-SSIM-opt (paper)"),
    "ELIC-sm (official numbers, MSE)": PublishedCodec("elic", "elic-sm-paper",
                                                      "ELIC-sm (paper)"),
    "Cheng2020 GMM+Attention (paper numbers, MSE)": PublishedCodec(
        "cheng2020", "cheng2020-paper", "Cheng2020 GMM+attention (paper)"),
    "C3 (via C3 baselines)": PublishedCodec("c3-baselines", "c3-paper", "C3 (paper)"),
    "C3 (Adaptive) (via C3 baselines)": PublishedCodec("c3-baselines", "c3-adaptive-paper",
                                                       "C3 adaptive (paper)"),
    "MLIC (via C3 baselines)": PublishedCodec("c3-baselines", "mlic-c3", "MLIC (via C3)"),
    "MLIC+ (via C3 baselines)": PublishedCodec("c3-baselines", "mlicplus-c3", "MLIC+ (via C3)"),
    "COOL-CHICv2 (via C3 baselines)": PublishedCodec("c3-baselines", "coolchic-v2-c3",
                                                     "COOL-CHICv2 (via C3)"),
    "CST (via C3 baselines)": PublishedCodec("c3-baselines", "cst-c3", "CST (via C3)"),
    "WYH (via C3 baselines)": PublishedCodec("c3-baselines", "wyh-c3", "WYH (via C3)"),
    "BPG 0.9.8 (provided by Wei Jiang)": PublishedCodec("c3-baselines", "bpg-c3",
                                                        "BPG 0.9.8 (via C3)"),
    "BPG420 (C3 authors, internal libraries)": PublishedCodec("c3-baselines", "bpg420-c3",
                                                              "BPG 4:2:0 (via C3)"),
    "BPG444 (C3 authors, internal libraries)": PublishedCodec("c3-baselines", "bpg444-c3",
                                                              "BPG 4:4:4 (via C3)"),
    **dict(_zoo(m, o) for m in ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018",
                                "mbt2018-mean", "cheng2020-anchor", "cheng2020-attn")
           for o in ("mse", "ms-ssim")),
    **dict(_zoo(m, "mse", "8-bit decoded recon") for m in ("mbt2018", "cheng2020-anchor")),
    "official bmshj2018-hyperprior (official results (mse))": PublishedCodec(
        "compressai-paper", "bmshj2018-hyperprior-paper", "bmshj2018-hyperprior (paper)"),
    "official mbt2018 (official results (mse))": PublishedCodec(
        "compressai-paper", "mbt2018-paper", "mbt2018 (paper)"),
    "official mbt2018-mean (official results (mse))": PublishedCodec(
        "compressai-paper", "mbt2018-mean-paper", "mbt2018-mean (paper)"),
    "minnen2020-cc10 (official results)": PublishedCodec(
        "compressai-paper", "minnen2020-cc10-paper", "minnen2020 cc10 (paper)"),
    "cheng2020-checkerboard-6M (official results)": PublishedCodec(
        "compressai-paper", "cheng2020-checkerboard-paper", "cheng2020 checkerboard (paper)"),
    "elic2022 (official results)": PublishedCodec(
        "compressai-paper", "elic-paper-via-compressai", "ELIC (paper, via CompressAI)"),
    "VTM (version NOT recorded; CompressAI bench, YCbCr 4:4:4 8-bit, encoder_intra_vtm.cfg, "
    "QP 47..12 step 5)": PublishedCodec("compressai-bench", "vtm-compressai",
                                         "VTM, version unrecorded (CompressAI)"),
    "HM (version not recorded) [HM]": PublishedCodec("compressai-bench", "hm-compressai",
                                                     "HM, version unrecorded (CompressAI)"),
    "AV1 (aom) [AV1]": PublishedCodec("compressai-bench", "av1-compressai", "AV1 (CompressAI)"),
    "BPG 0.9.8 4:4:4 x265 YCbCr [BPG. BPG version b'0.9.8']": PublishedCodec(
        "compressai-bench", "bpg444-compressai", "BPG 4:4:4 (CompressAI)"),
    "JPEG (Pillow 7.1.2) [JPEG. Pillow version 7.1.2]": PublishedCodec(
        "compressai-bench", "jpeg-compressai", "JPEG (CompressAI)"),
    "JPEG2000 (ffmpeg 3.4.6) [JPEG2000. ffmpeg version 3.4.6-0ubuntu0.18.04.1]": PublishedCodec(
        "compressai-bench", "jpeg2000-compressai", "JPEG 2000 (CompressAI)"),
    "WebP (Pillow 7.1.2) [WebP. Pillow version 7.1.2]": PublishedCodec(
        "compressai-bench", "webp-compressai", "WebP (CompressAI)"),
    "VTM-12.1 (second-hand, issue thread)": PublishedCodec(
        "vtm12", "vtm12.1-thread", "VTM-12.1 (second-hand)"),
    "VTM-12.1 (second-hand, issue thread; INCOMPLETE - only first 3 points visible in stored "
    "excerpt)": PublishedCodec("vtm12", "vtm12.1-thread", "VTM-12.1 (second-hand)"),
    **{f"{codec} (tfc results; PSNR sRGB RGB)": PublishedCodec("tfc", f"{codec}-tfc",
                                                                f"{codec} (tfc)")
       for codec in ("bpg420", "bpg444", "j2k-kdu5", "j2k-opj5", "jpeg420", "webp")},
}

# Published curves drawn by default in plots (beside ours and the anchors).
HEADLINE = ("segpic-paper", "stf-paper", "wacnn-paper", "mlic-paper", "tcm-large-paper",
            "elic-paper", "bpg444-compressai")

LABELS: Dict[str, str] = {c.name: c.label for c in CODECS.values()}


class PublishedError(ValueError):
    """A reference row this module cannot place (an unknown codec or dataset label)."""


def read_reference(shared: Path) -> List[dict]:
    """All rows of ``<shared>/reference/rd/{learned_codecs,vtm_anchors,classical_anchors}.csv``,
    as text (numbers are copied, never re-printed)."""
    rows = []
    for name in SOURCE_FILES:
        with open(shared / "reference" / "rd" / name, newline="") as f:
            reader = csv.DictReader(f)
            missing = set(REFERENCE_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise PublishedError(f"{name} lacks column(s) {', '.join(sorted(missing))}")
            rows.extend(reader)
    return rows


def curve_row(row: dict, name: str) -> dict:
    """One reference row in the curve-file format, under the curve name ``name``."""
    if row["dataset"] not in DATASETS:
        raise PublishedError(f"unknown published dataset label {row['dataset']!r}")
    return {"codec": name, "dataset": DATASETS[row["dataset"]], "point": row["point"],
            "bpp": row["bpp"], "psnr_rgb": row["psnr"], "ms_ssim_rgb": row["ms_ssim"],
            "source": row["source"]}


def published_files(rows: List[dict]) -> Dict[str, List[dict]]:
    """Curve rows grouped by output file name ``<family>_<dataset>.csv``.

    The VTM-17.0 CLIC points are left out: they are the ``vtm17`` anchor (``vtm17_clic_rows``)."""
    files: Dict[str, List[dict]] = defaultdict(list)
    for row in rows:
        if row["codec"] == VTM17_CLIC_LABEL:
            continue
        if row["codec"] not in CODECS:
            raise PublishedError(f"unknown published codec label {row['codec']!r}")
        codec = CODECS[row["codec"]]
        out = curve_row(row, codec.name)
        files[f"{codec.family}_{out['dataset']}.csv"].append(out)
    for file_rows in files.values():
        file_rows.sort(key=lambda r: (r["codec"], int(r["point"])))
    return dict(sorted(files.items()))


def vtm17_clic_rows(rows: List[dict]) -> List[dict]:
    """The published VTM-17.0 intra points on CLIC2020 professional valid, as the ``vtm17``
    anchor curve."""
    return [curve_row(r, "vtm17") for r in rows if r["codec"] == VTM17_CLIC_LABEL]


def readme(files: Dict[str, List[dict]]) -> str:
    """``anchors/published/README.md``: what the files are and one line per curve."""
    originals = defaultdict(set)
    for label, codec in CODECS.items():
        originals[codec.name].add(label)
    lines = [
        "# Published reference RD curves",
        "",
        "Generated by `python -m bench.published` from `../shared/reference/rd/` (do not edit by",
        "hand). One file per codec family and dataset, in the curve format",
        "`codec,dataset,point,bpp,psnr_rgb,ms_ssim_rgb,source`: `codec` is the stable name used by",
        "`bench bdrate` and `bench plot`; numbers and the `source` column are copied verbatim.",
        "",
        "Datasets: only unambiguous labels map to `kodak`, `clic2020-pro-valid` (41 images) and",
        "`tecnick-100` (RGB_OR_1200x1200). Curves on other or unstated sets keep their own dataset",
        "name and are never compared with ours: `clic2020-pro-split-unstated` and",
        "`clic2020-mobile-split-unstated` (CompressAI's folders), `clic-split-unstated`,",
        "`clic2021-test`, `tecnick-sampling-rgb-1200` (tensorflow-compression's Tecnick),",
        "`clic-pro-valid-per-thread` / `tecnick-per-thread` (second-hand VTM-12.1 numbers).",
        "`vtm-compressai` is CompressAI's `vtm.json` (VTM version not recorded): it is not the",
        "VTM-17.0 anchor, which lives in `anchors/vtm17/`.",
        "",
        "| name | label | files `<family>_<dataset>.csv`: dataset (points) | published as |",
        "| --- | --- | --- | --- |",
    ]
    where: Dict[str, List[str]] = defaultdict(list)
    family: Dict[str, str] = {}
    for file_name, file_rows in files.items():
        counts: Dict[str, int] = defaultdict(int)
        for r in file_rows:
            counts[r["codec"]] += 1
        for name, n in counts.items():
            family[name] = file_name.split("_")[0]
            where[name].append(f"{file_rows[0]['dataset']} ({n})")
    for name in sorted(where, key=lambda n: (family[n], n)):
        published = "; ".join(sorted(originals[name])).replace("|", "/")
        lines.append(f"| `{name}` | {LABELS[name]} | {family[name]}: {', '.join(where[name])} "
                     f"| {published} |")
    return "\n".join(lines) + "\n"


def curve_csv(rows: List[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CURVE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def generate(shared: Path, out: Path) -> Dict[str, List[dict]]:
    """Write every published curve file and the README under ``out``; returns the files."""
    files = published_files(read_reference(shared))
    for file_name, file_rows in files.items():
        atomic_write(out / file_name, curve_csv(file_rows))
    atomic_write(out / "README.md", readme(files))
    return files


def main(argv=None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(prog="python -m bench.published", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=os.environ.get("SEGPIC_SHARED"),
                        help="the shared folder holding reference/rd/ (default: $SEGPIC_SHARED)")
    parser.add_argument("--out", type=Path, default=root / "anchors" / "published")
    parser.add_argument("--vtm17-clic", type=Path, default=None, metavar="FILE",
                        help="also write the published VTM-17.0 CLIC points as an anchor file")
    args = parser.parse_args(argv)
    shared = Path(args.shared) if args.shared else None
    if shared is None or not (shared / "reference" / "rd").is_dir():
        print(f"error: no reference/rd/ under {shared or 'the shared folder'} "
              "(pass --shared DIR or set SEGPIC_SHARED)", file=sys.stderr)
        return 2
    try:
        files = generate(shared, args.out)
        if args.vtm17_clic:
            atomic_write(args.vtm17_clic, curve_csv(vtm17_clic_rows(read_reference(shared))))
    except PublishedError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror}: {e.filename}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} curve files and README.md to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
