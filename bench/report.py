"""``bench report``: one self-contained HTML page of a dataset's results.

    python -m bench report --dataset kodak [--anchor vtm17] [--results runs|results|DIR]
        [--out report.html] [--method cubic|pchip|akima] [--codecs NAME ...|all]
        [--bpp 0.5] [--images NAME ...] [--crop 256] [--reencode] [--anchor-streams DIR]
        [--checkpoint NAME=PATH[,PATH...]] [--bootstrap 1000] [--seed 0]

For every metric that the curve library knows (:data:`bench.curves.ALL_METRICS`) and that both the
anchor and our results carry: the BD-rate table (:func:`bench.tables.build_rows`, per-image
spread and bootstrap interval included, as ``bench bdrate --per-image`` prints it), the RD
curves (:func:`bench.plots.rd_figure`, as ``bench plot`` draws them) and the per-image BD-rates
(:func:`bench.plots.spread_figure`), both as inline SVG.  Then, for a few images, full-resolution
crops of the decoded images of each of our codecs and of the anchor at the rate point nearest
``--bpp`` for that image, two panes side by side whose codec is chosen by buttons; and the
provenance of every curve (codec versions, checkpoints' SHA-256, machines, sources), of the page
(date, commit, command) and of the machine that made it.

Decoded images come from the bitstreams ``bench run`` kept (``<results>/<dataset>/streams/<set>/``)
through the codec seam, the anchor's from its shipped VTM bitstreams (decoded by ffmpeg's VVC
decoder).  A stream is shown only when it is the one measured: its size equals the row's
``bytes`` and the decoded image's PSNR-RGB against the original equals the row's to
:data:`PSNR_TOLERANCE_DB`.  Absent streams are said once per codec on the page; ``--reencode``
codes the image again instead (deterministic codecs reproduce the recorded stream, which the
same checks verify; anything else is said on the page, never shown).

Nothing on the page is fetched at view time: CSS, script and figures are inline, images are
``data:`` URIs.  The file is written through a temporary file and renamed; bad input (no
results, an unknown dataset or anchor) is one line and exit status 2, with nothing written.
"""
from __future__ import annotations

import argparse
import base64
import datetime
import html
import io
import os
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from bench import datasets
from bench.bdrate import METHODS
from bench.curves import ALL_METRICS as METRICS, DATASETS, Curve, CurveError, CurveLibrary
from bench.errors import UserError
from bench.results import atomic_write, stream_dir

ROOT = Path(__file__).resolve().parents[1]
ANCHORS_DIR = ROOT / "anchors"
#: Largest difference (dB) between a decoded image's PSNR-RGB and its row's for the image to
#: be shown: the CSV keeps 6 decimals.
PSNR_TOLERANCE_DB = 1e-5
#: Images shown without ``--images``: the first ones (by name) that every codec shown has.
DEFAULT_IMAGE_COUNT = 3
_ANCHOR_BITS = re.compile(r"(\d+)-bit input")


@dataclass
class Crop:
    """One codec's decoded crop of one image, or why there is none.

    Attributes:
        label: the curve's display label (``JPEG (ours)``); ``Original`` for the original.
        caption: quality, bpp and PSNR-RGB of the rate point (empty for the original).
        png: the crop as PNG bytes, or None.
        problem: why there is no crop (None when there is one).
    """

    label: str
    caption: str
    png: Optional[bytes] = None
    problem: Optional[str] = None


class Decoder:
    """Decoded images of one curve's rows, verified against what the rows recorded.

    Args:
        curve: one of our curves, or the shipped anchor.
        streams: where its streams lie (ours: the result set's stream folder; the anchor: its
            ``bitstreams`` folder).
        codec: the codec that decodes (and, with ``reencode``, encodes) them; None for the
            anchor (ffmpeg's VVC decoder).
    """

    def __init__(self, curve: Curve, streams: Path, codec=None, reencode: bool = False):
        self.curve, self.streams, self.codec, self.reencode = curve, Path(streams), codec, reencode
        self.missing: List[Path] = []

    def stream(self, image: str, quality) -> Path:
        if self.codec is None:
            return self.streams / f"{image}_qp{quality}.bin"
        from bench.run import stream_path

        return stream_path(self.streams, self.codec, quality, Path(image))

    def decoded(self, row, original: np.ndarray) -> Tuple[Optional[np.ndarray], Optional[str]]:
        """The decoded image of ``row`` (a per-image row of the curve), or why there is none."""
        quality = _quality(row["quality"])
        path = self.stream(row["image"], quality)
        try:
            if self.codec is not None:
                quality = self.codec.parse_quality(str(quality))
                planned = str(row.get("checkpoint_sha") or "")
                have = self.codec.identity(quality).get("checkpoint_sha", "")
                if planned and planned != "nan" and have != planned:
                    return None, (f"the checkpoint given for quality {quality} (SHA-256 {have[:12]}...) "
                                  f"is not the one measured ({planned[:12]}...)")
                self.codec.prepare(quality)
            if path.is_file():
                image = self._decode_file(path, row, original)
            elif self.reencode and self.codec is not None:
                with tempfile.TemporaryDirectory(prefix=".bench-report.") as tmp:
                    coded = Path(tmp) / path.name
                    self.codec.encode(original, quality, coded)
                    image = self._decode_file(coded, row, original, again=True)
            else:
                self.missing.append(path)
                return None, None
        except Exception as err:  # a codec failing on one stream must not stop the page
            if isinstance(err, _Mismatch):
                return None, str(err)
            return None, f"decoding {path.name} failed: {type(err).__name__}: {err}"
        from bench.metrics import psnr_rgb

        if image.shape != original.shape:
            return None, f"{path.name} decodes to {image.shape}, the original is {original.shape}"
        psnr, recorded = psnr_rgb(original, image), float(row["psnr_rgb"])
        if not abs(psnr - recorded) <= PSNR_TOLERANCE_DB:
            return None, (f"{path.name} decodes to PSNR-RGB {psnr:.6f} dB, the row records "
                          f"{recorded:.6f} dB: not the image measured")
        return image, None

    def _decode_file(self, path: Path, row, original: np.ndarray, again: bool = False) -> np.ndarray:
        size, recorded = path.stat().st_size, int(row["bytes"])
        if size != recorded:
            how = "coded again" if again else f"stream {path}"
            now, then = (self.codec.version(), str(row.get("codec_version"))) if self.codec else ("", "")
            versions = f" (recorded by {then}, this codec is {now})" if now != then else ""
            raise _Mismatch(f"{how}: {size} bytes, the row records {recorded}: not the stream "
                            f"measured{versions}")
        if self.codec is not None:
            return self.codec.decode(path)
        from bench.codecs.vvenc import decode_vvc
        from bench.colour import ycbcr_to_rgb

        height, width = original.shape[:2]
        ycc = decode_vvc(path, width, height, "444")  # VTM's InternalBitDepth 10
        found = _ANCHOR_BITS.search(str(row.get("codec_version", "")))
        bits = int(found.group(1)) if found else 10
        if bits < 10:  # DecoderApp -d 8: (x + 2) >> 2
            ycc = (ycc.astype(np.int32) + (1 << (9 - bits))) >> (10 - bits)
        return ycbcr_to_rgb(ycc, bits)


class _Mismatch(Exception):
    """A stream that is not the one the row measured."""


def _quality(value):
    """A quality read from CSV as it appears in stream folder names (``35``, not ``35.0``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def anchor_streams(anchor: Curve, option: Optional[Path]) -> Optional[Path]:
    """The folder of the anchor's bitstreams: ``--anchor-streams``, else the ``bitstreams``
    folder beside the logs its rows name (``source`` ``shared/anchors/vtm17/kodak-10bit
    (points.csv, ...)``, under the shared folder: ``$SEGPIC_SHARED`` or ``../shared``)."""
    if option is not None:
        return Path(option)
    if anchor.per_image is None or "source" not in anchor.per_image:
        return None
    sources = anchor.per_image["source"].dropna().astype(str)
    if sources.empty:
        return None
    where = sources.iloc[0].split(" (")[0]
    if not where.startswith("shared/"):
        return None
    shared = Path(os.environ.get("SEGPIC_SHARED") or ROOT.parent / "shared")
    return shared / where[len("shared/"):] / "bitstreams"


def nearest_row(curve: Curve, image: str, bpp: float):
    """The row of ``image`` whose bpp is nearest ``bpp`` (the lower rate on a tie), or None."""
    rows = curve.per_image[curve.per_image["image"] == image]
    if rows.empty:
        return None
    order = np.lexsort((rows["bpp"].to_numpy(), np.abs(rows["bpp"].to_numpy() - bpp)))
    return rows.iloc[order[0]]


def png(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


def crop_box(height: int, width: int, size: int) -> Tuple[slice, slice]:
    """The centred ``size`` x ``size`` window (smaller where the image is)."""
    h, w = min(size, height), min(size, width)
    top, left = (height - h) // 2, (width - w) // 2
    return slice(top, top + h), slice(left, left + w)


# ----------------------------------------------------------------------------------- page parts

def _e(text) -> str:
    return html.escape(str(text), quote=True)


def bd_section(library: CurveLibrary, anchor: Curve, metric: str, args, codecs):
    """Table, RD curves and per-image spread of one metric: (HTML, the table's rows)."""
    from bench.plots import colour_map, inline_svg, rd_figure, select, spread_figure
    from bench.tables import build_rows, render

    name = METRICS[metric][0]
    rows = build_rows(library, anchor, metric, [args.method], codecs, per_image=True,
                      bootstrap=args.bootstrap, seed=args.seed)
    drawn = select(library, metric, args.codecs, anchor)
    rd = rd_figure(drawn, metric, f"{library.dataset}: {name}")
    spread = spread_figure(rows, metric, f"{library.dataset}: per-image BD-rate against {anchor.label}, "
                                         f"{name}, {args.method}", colour_map(drawn))
    parts = [f'<section id="metric-{_e(metric)}"><h2>{_e(name)}</h2>',
             '<div class="table">' + render(rows, anchor, library.dataset, metric, "html", True) + "</div>",
             f'<h3>RD curves, {_e(name)}</h3><figure class="plot">{inline_svg(rd, f"rd-{metric}")}</figure>']
    if any(r.spread is not None and r.spread.values for r in rows):
        parts.append(f'<h3>Per-image BD-rate, {_e(name)}</h3><figure class="plot">'
                     f'{inline_svg(spread, f"spread-{metric}")}</figure>')
    else:
        parts.append(f'<p class="note">No per-image BD-rates for {_e(name)}: the anchor or the '
                     "codecs have no per-image results.</p>")
    return "\n".join(parts) + "</section>", rows


def summary_table(rows_by_metric: Dict[str, list], anchor: Curve, method: str) -> str:
    """One row per codec, one column per metric: the BD-rates of the metric sections."""
    labels = list(dict.fromkeys(r.curve.label for rows in rows_by_metric.values() for r in rows))
    value = {(m, r.curve.label): r.bd_rate for m, rows in rows_by_metric.items() for r in rows}

    def cell(m, label):
        if (m, label) not in value:
            return '<td class="num" title="no curve with this metric">&ndash;</td>'
        v = value[(m, label)]
        return f'<td class="num">{"n/a" if v is None else f"{v:+.2f}"}</td>'

    head = "".join(f'<th><a href="#metric-{_e(m)}">{_e(METRICS[m][0])}</a></th>' for m in rows_by_metric)
    body = "".join(f"<tr><td>{_e(label)}</td>" + "".join(cell(m, label) for m in rows_by_metric) + "</tr>"
                   for label in labels)
    return (f'<section id="summary"><h2>BD-rate summary</h2><p class="caption">BD-rate (%) against '
            f"{_e(anchor.label)}, {_e(method)}, per metric; negative = fewer bits than the anchor at equal "
            "quality; n/a: not defined (the metric's section says why).</p>"
            f"<table><thead><tr><th>codec</th>{head}</tr></thead><tbody>{body}</tbody></table></section>")


def image_curves(library: CurveLibrary, anchor: Curve, codecs: Optional[List[str]]) -> List[Curve]:
    """The curves whose decoded images are shown: the anchor and ours (those of ``--codecs``)
    that have per-image rows."""
    ours = [c for c in library.ours() if not c.same_as(anchor)]
    if codecs and codecs != ["all"]:
        ours = [c for c in ours if c.name in codecs]
    return [c for c in [anchor] + ours if c.per_image is not None]


def shown_images(curves: List[Curve], chosen: Optional[List[str]]) -> List[str]:
    """``--images`` (names, extension optional), each checked to have rows of every curve
    shown, else the first few (by name) that every one has."""
    sets = [set(c.per_image["image"]) for c in curves]
    everywhere = sorted(set.intersection(*sets)) if sets else []
    if chosen:
        unknown = [i for i in chosen if Path(i).stem not in everywhere]
        if unknown:
            raise UserError(f"--images: no results for {', '.join(unknown)} from every codec shown "
                            f"(images they all have: {', '.join(everywhere[:30]) or 'none'})")
        return [Path(i).stem for i in chosen]
    return everywhere[:DEFAULT_IMAGE_COUNT]


def image_section(library: CurveLibrary, anchor: Curve, curves: List[Curve], images: List[str],
                  args) -> str:
    """Decoded crops of ``images``, one per curve of ``curves``, at the rate point nearest
    ``--bpp``."""
    notes: List[str] = []
    checkpoints = _checkpoints(args)
    entries = [(c, _decoder(library, anchor, c, args, checkpoints, notes)) for c in curves]
    intro = (f"<p>Centred {args.crop} x {args.crop} crops at full resolution (1 image pixel = 1 "
             f"screen pixel), each codec at its rate point nearest {args.bpp:g} bpp for that image. "
             "Choose what each pane shows with its buttons; the keys 1-9 flip the right pane.</p>")
    try:
        name, files = datasets.resolve(library.dataset, datasets.data_root(args.data_root))
    except UserError as err:
        return _images_html(intro, [f"No decoded images: the original images are not here ({err})."], [])
    originals = {Path(f).stem: f for f in files}
    from bench.images import ImageReadError, load_rgb

    viewers = []
    for image in images:
        if image not in originals:
            notes.append(f"{image}: not in the dataset at {Path(files[0]).parent}; left out")
            continue
        try:
            original = load_rgb(originals[image]).rgb
        except ImageReadError as err:
            notes.append(f"{image}: {err}")
            continue
        box = crop_box(*original.shape[:2], args.crop)
        crops = [Crop("Original", f"{image}, {original.shape[1]}x{original.shape[0]}", png(original[box]))]
        for curve, decoder in entries:
            row = nearest_row(curve, image, args.bpp)
            if row is None:
                continue
            caption = (f"q {_quality(row['quality'])}: {row['bpp']:.3f} bpp, "
                       f"{float(row['psnr_rgb']):.2f} dB PSNR-RGB")
            if decoder is None:  # said once in the notes
                continue
            decoded, problem = decoder.decoded(row, original)
            if decoded is not None:
                crops.append(Crop(curve.label, caption, png(decoded[box])))
            elif problem:  # (a missing stream is said once per codec in the notes)
                crops.append(Crop(curve.label, caption, problem=problem))
        viewers.append((image, crops, box[1].stop - box[1].start))
    for curve, decoder in entries:
        if decoder is not None and decoder.missing:
            example = decoder.missing[0]
            notes.insert(0, f"{curve.label}: no bitstreams kept ({len(decoder.missing)} missing, e.g. {example}), "
                            "so its images are not shown. bench run keeps them under <out>/<dataset>/streams/ "
                            "(the committed results do not); --reencode codes the images again and shows "
                            "them only where the stream reproduces the recorded size and PSNR.")
    return _images_html(intro, notes, viewers)


def _checkpoints(args) -> Dict[str, List[str]]:
    from bench.run import parse_checkpoints

    return parse_checkpoints(args.checkpoint)


def _decoder(library: CurveLibrary, anchor: Curve, curve: Curve, args, checkpoints,
             notes: List[str]) -> Optional[Decoder]:
    """How ``curve``'s images are decoded, or None (with the reason in ``notes``)."""
    if curve is anchor and curve.kind == "anchor":
        folder = anchor_streams(anchor, args.anchor_streams)
        if folder is None or not folder.is_dir():
            notes.append(f"{anchor.label}: no bitstream folder "
                         f"({folder or 'its rows name none'}; give --anchor-streams DIR): not shown.")
            return None
        return Decoder(curve, folder)
    from bench.codecs import get_codec
    from bench.codecs.base import CodecError
    from bench.run import codec_options

    codec_name, _, result_set = curve.name.partition("@")
    try:
        codec = get_codec(codec_name, **codec_options(codec_name, args, checkpoints))
    except CodecError as err:
        notes.append(f"{curve.label}: cannot decode its streams here ({err}): not shown.")
        return None
    return Decoder(curve, stream_dir(library.results, library.dataset, result_set or "default"), codec,
                   args.reencode)


def _images_html(intro: str, notes: List[str], viewers) -> str:
    parts = ['<section id="images"><h2>Decoded images</h2>', intro]
    parts += [f'<p class="note">{_e(n)}</p>' for n in notes]
    for index, (image, crops, width) in enumerate(viewers):
        shown = [c for c in crops if c.png is not None]
        buttons = "".join(f'<button type="button" data-k="{k}" title="{_e(c.caption)}">{_e(c.label)}</button>'
                          for k, c in enumerate(shown))
        store = "".join(f'<figure data-k="{k}"><img alt="{_e(image)}: {_e(c.label)}" '
                        f'src="data:image/png;base64,{base64.b64encode(c.png).decode()}">'
                        f'<figcaption><b>{_e(c.label)}</b> {_e(c.caption)}</figcaption></figure>'
                        for k, c in enumerate(shown))
        lacking = [c for c in crops if c.png is None]
        missing = "".join(f"<li>{_e(c.label)} ({_e(c.caption)}): {_e(c.problem)}</li>" for c in lacking)
        first = 1 if len(shown) > 1 else 0
        width = max(width, 320)
        panes = "".join(f'<div class="pane" data-start="{k}" style="max-width:{width}px">'
                        f'<div class="buttons">{buttons}</div><img alt=""><p class="caption"></p></div>'
                        for k in (0, first))
        parts.append(f'<div class="viewer" id="viewer-{index}"><h3>{_e(image)} '
                     '<label class="zoom"><input type="checkbox"> zoom 2x</label></h3>'
                     f'<div class="panes">{panes}</div><div class="store">{store}</div>'
                     + (f'<ul class="lacking">{missing}</ul>' if missing else "") + "</div>")
    return "\n".join(parts) + "</section>"


def provenance_section(library: CurveLibrary, anchor: Curve, codecs: Optional[List[str]],
                       argv: Sequence[str]) -> str:
    """Where every curve comes from, and what made this page."""
    from bench.provenance import describe

    curves = [anchor] + [c for c in library.ours() + library.published()
                         if not c.same_as(anchor) and (codecs is None or c.name in codecs)]
    rows = []
    for c in curves:
        table = c.per_image

        def values(column: str) -> str:
            if table is None or column not in table:
                return ""
            found = sorted({str(v) for v in table[column].dropna() if str(v) not in ("", "nan")})
            return "<br>".join(_e(v) for v in found)

        rows.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in (
            _e(c.label), _e(c.kind), values("codec_version"), values("checkpoint_sha"),
            values("machine") or ("not recorded" if table is not None else ""), values("device"),
            _e(c.per_image["image"].nunique()) if table is not None else "", _e(c.source))) + "</tr>")
    commit = _git_commit()
    made = [("date (UTC)", datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")),
            ("command", "python -m bench " + shlex.join(argv)),
            ("repository commit", commit),
            ("machine that made this page", describe()),
            ("anchor", f"{anchor.label} ({anchor.path})")]
    return ('<section id="provenance"><h2>Provenance</h2><table><thead><tr><th>curve</th><th>kind</th>'
            "<th>codec versions</th><th>checkpoint SHA-256</th><th>machines</th><th>device</th>"
            "<th>images</th><th>source</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
            "<table class=\"made\"><tbody>" + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in made)
            + "</tbody></table></section>")


def _git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=40"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"
    return out.stdout.strip() if out.returncode == 0 else "unknown (not a git checkout)"


STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1500px;padding:0 1.5em 3em;color:#1a1a1a}
h1{margin:.6em 0 .1em}h2{border-bottom:2px solid #ddd;margin-top:2em}nav a{margin-right:1em}
table{border-collapse:collapse;margin:.5em 0;font-size:13px}th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
thead th{background:#f1f1f1}.table{overflow-x:auto}p.caption{font-weight:600}p.note{background:#fff6d6;padding:4px 8px;border-left:4px solid #e0b000}
figure.plot{margin:0}figure.plot svg{max-width:100%;height:auto}
.panes{display:flex;flex-wrap:wrap;gap:16px}.pane img{display:block;image-rendering:pixelated;border:1px solid #999}
.buttons button{margin:0 4px 4px 0;font-size:12px;cursor:pointer}.buttons button.on{background:#1f5fbf;color:#fff}
.store{display:flex;flex-wrap:wrap;gap:8px}.store figure{margin:0}.store img{display:block}.js .store{display:none}
.made th{background:#f7f7f7}td{overflow-wrap:anywhere}td.num{text-align:right;white-space:nowrap}
.zoom{font-size:13px;font-weight:normal;margin-left:1em}.zoomed .pane{max-width:none!important}
"""

SCRIPT = """
document.documentElement.classList.add('js');
function show(pane,k){
  var viewer=pane.closest('.viewer'),src=viewer.querySelector('.store figure[data-k="'+k+'"]');
  if(!src)return;
  pane.querySelector('img').src=src.querySelector('img').src;
  pane.querySelector('img').alt=src.querySelector('img').alt;
  pane.querySelector('.caption').textContent=src.querySelector('figcaption').textContent;
  pane.querySelectorAll('button').forEach(function(b){b.classList.toggle('on',b.dataset.k==String(k));});
  pane.dataset.k=k;
}
document.querySelectorAll('.pane').forEach(function(pane){
  pane.querySelectorAll('button').forEach(function(b){b.addEventListener('click',function(){show(pane,b.dataset.k);});});
  show(pane,pane.dataset.start);
});
document.querySelectorAll('.zoom input').forEach(function(box){
  box.addEventListener('change',function(){
    var viewer=box.closest('.viewer');viewer.classList.toggle('zoomed',box.checked);
    viewer.querySelectorAll('.pane img').forEach(function(img){img.style.width=box.checked?(2*img.naturalWidth)+'px':'';});
  });
});
var active=null;
document.querySelectorAll('.viewer').forEach(function(v){v.addEventListener('mouseenter',function(){active=v;});});
document.addEventListener('keydown',function(e){
  if(!active||e.key<'1'||e.key>'9')return;
  var panes=active.querySelectorAll('.pane');show(panes[panes.length-1],Number(e.key)-1);
});
"""


def page(title: str, summary: str, sections: List[str]) -> str:
    nav = " ".join(f'<a href="#{anchor}">{_e(text)}</a>' for anchor, text in
                   re.findall(r'<section id="([^"]+)"><h2>([^<]+)</h2>', "".join(sections)))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width\"><title>{_e(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1><p>{summary}</p><nav>{nav}</nav>\n"
            + "\n".join(sections) + f"\n<script>{SCRIPT}</script></body></html>\n")


# ----------------------------------------------------------------------------------- command

def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``report`` command's options."""
    parser.add_argument("--dataset", default="kodak", help=f"dataset name ({', '.join(DATASETS)}; default kodak)")
    parser.add_argument("--anchor", default="vtm17",
                        help="anchor: a named anchor (vtm17), a curve name, or a curve file (default vtm17)")
    parser.add_argument("--out", type=Path, default=None, help="the HTML file (default report_<dataset>.html)")
    parser.add_argument("--results", type=Path, default=Path("runs"),
                        help="results folder holding <dataset>/ (default runs, where bench run writes; "
                             "'results' for the result sets committed with the repository)")
    parser.add_argument("--anchors", type=Path, default=ANCHORS_DIR,
                        help="anchors folder holding vtm17/ and published/ (default: the repository's anchors/)")
    parser.add_argument("--method", choices=list(METHODS), default="cubic",
                        help="BD-rate method (default cubic = VCEG-M33)")
    parser.add_argument("--codecs", nargs="+", metavar="NAME",
                        help="only these curves, or 'all' (default: ours and the headline published curves)")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                        help="bootstrap resamples of the per-image spread (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    images = parser.add_argument_group("decoded images")
    images.add_argument("--bpp", type=float, default=0.5,
                        help="show each codec's rate point nearest this bpp (default 0.5)")
    images.add_argument("--images", nargs="+", metavar="NAME",
                        help=f"images to show (default: the first {DEFAULT_IMAGE_COUNT} every codec has)")
    images.add_argument("--crop", type=int, default=256, metavar="PIXELS",
                        help="side of the centred full-resolution crop (default 256)")
    images.add_argument("--data-root", help="data folder with the original images "
                                            "(default: $SEGPIC_DATA or ~/.cache/segpic-bench/data)")
    images.add_argument("--reencode", action="store_true",
                        help="code an image again where its stream was not kept; shown only if it reproduces "
                             "the recorded bytes and PSNR")
    images.add_argument("--anchor-streams", type=Path, metavar="DIR",
                        help="folder of the anchor's <image>_qp<QP>.bin bitstreams (default: the one its "
                             "rows name, under the shared folder)")
    images.add_argument("--checkpoint", action="append", metavar="NAME=PATH[,PATH...]",
                        help="learned codecs: their checkpoints, as given to bench run (checked against "
                             "the rows' SHA-256)")


def _check(args, library: CurveLibrary) -> None:
    if args.bootstrap < 0:
        raise UserError("--bootstrap must be >= 0")
    if not args.bpp > 0:
        raise UserError("--bpp must be positive")
    if args.crop < 8:
        raise UserError("--crop must be at least 8 pixels")
    folder = library.results / library.dataset
    if not folder.is_dir() and args.dataset not in DATASETS:
        raise UserError(f"unknown dataset '{args.dataset}': not a registered name ({', '.join(DATASETS)}) "
                        f"and no results in {folder}")
    if not library.ours():
        raise UserError(f"no results for {args.dataset} in {folder} (python -m bench run writes them there; "
                        "--results results reads the result sets committed with the repository)")


def main(args: argparse.Namespace) -> int:
    """Write the page.  Bad input raises :class:`UserError` (one line, exit status 2)."""
    from bench.tables import chosen_codecs

    library = CurveLibrary(args.dataset, args.results, args.anchors)
    _check(args, library)
    anchor = library.resolve(args.anchor)
    metrics = [m for m in METRICS
               if anchor.points(m)[0].size and any(c.points(m)[0].size for c in library.ours()
                                                   if not c.same_as(anchor))]
    if not metrics:
        raise CurveError(f"no metric that both the anchor {anchor.label} and the results in "
                         f"{library.results / library.dataset} have")
    out = args.out or Path(f"report_{library.dataset}.html")
    curves = image_curves(library, anchor, args.codecs)
    images = shown_images(curves, args.images)
    codecs = chosen_codecs(library, anchor, args.codecs)
    rows_by_metric, sections = {}, []
    for metric in metrics:
        section, rows_by_metric[metric] = bd_section(library, anchor, metric, args, codecs)
        sections.append(section)
    sections.insert(0, summary_table(rows_by_metric, anchor, args.method))
    sections.append(image_section(library, anchor, curves, images, args))
    sections.append(provenance_section(library, anchor, codecs, getattr(args, "argv", None) or sys.argv[1:]))
    ours = [c for c in library.ours() if not c.same_as(anchor) and (codecs is None or c.name in codecs)]
    summary = (f"{_e(library.dataset)}: {len(ours)} result curve(s) from "
               f"{_e(library.results / library.dataset)} against {_e(anchor.label)}; BD-rates by the "
               f"{_e(args.method)} method; metrics: {_e(', '.join(METRICS[m][0] for m in metrics))}.")
    text = page(f"segpic-bench report: {library.dataset}", summary, sections)
    try:
        atomic_write(out, text)
    except OSError as err:
        raise UserError(f"cannot write {out}: {err.strerror or err}") from None
    print(f"wrote {out} ({len(text) / 1e6:.1f} MB; {len(metrics)} metric(s))")
    return 0
