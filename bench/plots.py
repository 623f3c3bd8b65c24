"""``bench plot``: rate-distortion curves of one dataset.

    python -m bench plot --dataset kodak [--metric psnr|ms-ssim] [--out FILE.png|.svg|.pdf]
        [--codecs NAME ... | --codecs all] [--anchor vtm17|NAME|FILE|none] [--full-range]

Ours (``<results>/<dataset>/``, default ``runs/`` as ``bench run`` writes them) solid and
thick, published curves thin, the anchor dashed.
Without ``--codecs``: ours, the anchor and a few headline published curves (``segpic-paper``,
``stf-paper``, ``wacnn-paper`` ...); ``--codecs all`` draws every curve of the dataset.
x: rate in bits per pixel; y: PSNR-RGB in dB, or MS-SSIM-RGB in dB (-10 log10(1 - MS-SSIM)).
The file is written through a temporary file in the same folder, so it is never half-written.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from bench.curves import ALL_METRICS as METRICS, DATASETS, Curve, CurveError, CurveLibrary
from bench.published import HEADLINE

if TYPE_CHECKING:
    from bench.tables import Row

ANCHORS_DIR = Path(__file__).resolve().parents[1] / "anchors"
FORMATS = (".png", ".svg", ".pdf")
STYLES = {  # kind -> matplotlib line style
    "ours": dict(linestyle="-", linewidth=2.2, marker="o", markersize=5, zorder=3),
    "published": dict(linestyle="-", linewidth=1.0, marker=".", markersize=5, alpha=0.85,
                      zorder=2),
    "anchor": dict(linestyle="--", linewidth=1.6, marker="s", markersize=4, color="black",
                   zorder=2.5),
}


#: 20 distinct colours (tab20's dark shades, then its light ones): up to 20 curves never share one.
PALETTE = tuple(matplotlib.colormaps["tab20"].colors[::2] + matplotlib.colormaps["tab20"].colors[1::2])


def colour_map(curves: List[Curve]) -> dict:
    """Curve label -> the colour :func:`rd_figure` draws it in (the next of :data:`PALETTE`
    for each curve in order; the anchor, drawn black, takes its turn too)."""
    return {c.label: ("black" if c.kind == "anchor" else PALETTE[k % len(PALETTE)])
            for k, c in enumerate(curves)}


def rd_figure(curves: List[Curve], metric: str, title: str, focus: bool = True) -> Figure:
    """One RD plot: a line per curve, styled by its kind, legend to the right (in columns of
    up to 24 entries; the figure widens with them).  With ``focus``, the axes span the rates
    of ours and the anchor (15 % margin) where there are any, so that published curves
    reaching far higher rates do not squeeze the comparison."""
    columns = -(-len(curves) // 24)
    figure = Figure(figsize=(12.0 + 3.5 * (columns - 1), 6.5), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    colours = colour_map(curves)
    for curve in curves:
        bpp, values = curve.points(metric)
        style = dict(STYLES[curve.kind])
        style.setdefault("color", colours[curve.label])
        axes.plot(bpp, values, label=curve.label, **style)
    focused = [c.points(metric) for c in curves if c.kind in ("ours", "anchor")]
    if focus and focused:
        x_max = 1.15 * max(bpp.max() for bpp, _ in focused)
        shown = np.concatenate([values[bpp <= x_max] for bpp, values in
                                (c.points(metric) for c in curves)])
        margin = 0.05 * (shown.max() - shown.min())
        axes.set_xlim(0.0, x_max)
        axes.set_ylim(shown.min() - margin, shown.max() + margin)
    name, unit = METRICS[metric]
    axes.set_xlabel("rate (bpp)")
    axes.set_ylabel(f"{name} ({unit})")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False,
                ncol=columns)
    return figure


def spread_figure(rows: List["Row"], metric: str, title: str,
                  colours: Optional[dict] = None) -> Figure:
    """Per-image BD-rates, one line per codec (rows with a per-image spread, in their order):
    a dot per image (coloured as ``colours``, label -> colour, says; e.g. :func:`colour_map`
    of the RD plot), the bootstrap 95 % interval as a grey bar, the BD-rate of the mean curves
    as a black tick; 0 (the anchor) as a vertical line."""
    shown = [r for r in rows if r.spread is not None and r.spread.values]
    figure = Figure(figsize=(12.0, 1.4 + 0.42 * max(len(shown), 1)), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    jitter = np.random.default_rng(0)
    for k, row in enumerate(shown):
        y = len(shown) - 1 - k
        values = np.array(list(row.spread.values.values()))
        if row.spread.ci is not None:
            axes.plot(row.spread.ci, [y, y], color="0.6", linewidth=6, solid_capstyle="butt",
                      label="bootstrap 95% interval" if k == 0 else None)
        axes.scatter(values, y + jitter.uniform(-0.18, 0.18, values.size), s=16, alpha=0.75,
                     color=(colours or {}).get(row.curve.label, PALETTE[k % len(PALETTE)]), zorder=3)
        if row.bd_rate is not None:
            axes.plot([row.bd_rate], [y], marker="|", markersize=18, markeredgewidth=2.5,
                      color="black", linestyle="none", zorder=4,
                      label="BD-rate of the mean curves" if k == 0 else None)
    axes.axvline(0.0, color="black", linewidth=0.8, alpha=0.6)
    axes.set_yticks(range(len(shown)), [r.curve.label for r in reversed(shown)])
    axes.set_ylim(-0.6, len(shown) - 0.4)
    axes.set_xlabel(f"BD-rate (%) per image, {METRICS[metric][0]}; dots: images")
    axes.set_title(title)
    axes.grid(True, axis="x", alpha=0.3)
    if shown:
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False)
    return figure


def inline_svg(figure: Figure, prefix: str) -> str:
    """``figure`` as an ``<svg>`` element for an HTML page: text kept as text (small, and
    searchable), no XML prolog, and every element id (and each reference to one) prefixed with
    ``prefix``, so that several figures on one page never share an id."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    ids = set(re.findall(r'\bid="([^"]+)"', text))
    text = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', text)
    return re.sub(r'(href="#|url\(#)([^")]+)',
                  lambda m: m.group(1) + (f"{prefix}-{m.group(2)}" if m.group(2) in ids else m.group(2)), text)


def select(library: CurveLibrary, metric: str, codecs: Optional[List[str]],
           anchor: Optional[Curve]) -> List[Curve]:
    """The curves to draw: ours, the anchor, and the published ones asked for (see module)."""
    ours, published = library.ours(), library.published()
    if codecs == ["all"]:
        chosen = ours + published
    elif codecs:
        by_name = {c.name: c for c in published + ours}
        unknown = [n for n in codecs if n not in by_name]
        if unknown:
            raise CurveError(f"no curve named {', '.join(unknown)} on {library.dataset}")
        chosen = [by_name[n] for n in codecs]
    else:
        chosen = ours + [c for c in published if c.name in HEADLINE]
    if anchor is not None:
        chosen = [replace(anchor, kind="anchor")] + [c for c in chosen if not c.same_as(anchor)]
    chosen = [c for c in chosen if c.points(metric)[0].size]
    if not chosen:
        raise CurveError(f"no curves with {METRICS[metric][0]} on {library.dataset}")
    return chosen


def save_atomic(figure: Figure, out: Path) -> None:
    """Save ``figure`` to ``out`` (format from the extension) via a temporary file."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        figure.savefig(tmp, format=out.suffix[1:].lower())
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``plot`` command's options."""
    parser.add_argument("--dataset", default="kodak",
                        help=f"dataset name ({', '.join(DATASETS)}; default kodak)")
    parser.add_argument("--metric", choices=list(METRICS), default="psnr")
    parser.add_argument("--out", type=Path, default=None,
                        help="output file, .png, .svg or .pdf (default rd_<dataset>_<metric>.png)")
    parser.add_argument("--codecs", nargs="+", metavar="NAME",
                        help="curves to draw besides the anchor ('all' for every curve)")
    parser.add_argument("--anchor", default="vtm17",
                        help="anchor drawn dashed: vtm17, a curve name or file, or 'none' "
                             "(default vtm17, skipped if absent for the dataset)")
    parser.add_argument("--full-range", action="store_true",
                        help="show every curve's whole rate range (default: the rates of ours "
                             "and the anchor)")
    parser.add_argument("--results", type=Path, default=Path("runs"),
                        help="results folder holding <dataset>/*.csv (default runs, where bench run "
                             "writes; 'results' for the result sets committed with the repository)")
    parser.add_argument("--anchors", type=Path, default=ANCHORS_DIR,
                        help="anchors folder (default: the repository's anchors/)")


def main(args: argparse.Namespace) -> int:
    """Draw and save the plot.  Bad input raises :class:`CurveError` (a user error:
    ``python -m bench`` reports it in one line, exit status 2)."""
    out = args.out or Path(f"rd_{args.dataset}_{args.metric}.png")
    if out.suffix.lower() not in FORMATS:
        raise CurveError(f"--out must end in {', '.join(FORMATS)}: {out}")
    library = CurveLibrary(args.dataset, args.results, args.anchors)
    anchor = None
    if args.anchor != "none":
        try:
            anchor = library.resolve(args.anchor)
        except CurveError:
            if args.anchor != "vtm17":
                raise
            print(f"note: no vtm17 anchor for {args.dataset}; plotting without it", file=sys.stderr)
    curves = select(library, args.metric, args.codecs, anchor)
    figure = rd_figure(curves, args.metric, f"{args.dataset}: {METRICS[args.metric][0]}",
                       focus=not args.full_range)
    try:
        save_atomic(figure, out)
    except OSError as e:
        raise CurveError(f"cannot write {out}: {e.strerror or e}") from None
    print(f"wrote {out} ({len(curves)} curves)")
    return 0
