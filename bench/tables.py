"""``bench bdrate``: BD-rate tables of every codec on a dataset against one anchor.

    python -m bench bdrate --anchor vtm17 --dataset kodak [--metric psnr|ms-ssim]
        [--method cubic|pchip|akima|all] [--format markdown|latex|csv|html] [--results DIR]
        [--codecs NAME ...] [--per-image [--bootstrap N] [--seed S]]

One row per codec and method.  Curves: ours from ``<results>/<dataset>/`` (``--results``,
default ``runs/``, where ``bench run`` writes by default; ``--results results`` reads the result
sets committed with the repository), the published ones from ``anchors/published/``.  Without
``--codecs`` the table holds ours and the headline published curves
(:data:`bench.published.HEADLINE`, as ``bench plot`` draws them); ``--codecs all`` holds every
curve of the dataset.  Columns: BD-rate (%), BD-metric (dB), the codec's bpp range, the
overlap of the metric ranges, the method, flags (``low-overlap``: metric ranges overlap by less
than 75 % of their union; ``low-rate-overlap``: the same for the log-rate ranges of BD-PSNR;
``non-monotonic-*``; ``incomplete: ...``, a metric missing at some point of the codec's curve;
``anchor incomplete: ...``, of the anchor's), and the data source.  A pair of curves that does
not define a BD-rate gets ``n/a`` and the reason in its flags, never a number.  In markdown
and LaTeX, an anchor's flag that every row (of a method) carries, an unusable or incomplete
anchor, is said once above the table; csv rows keep all their flags.

``--per-image`` adds, where both the anchor and the codec have per-image results: the
per-image BD-rates' median, min and max, and a bootstrap 95 % interval of the table's BD-rate
(images resampled with replacement, mean curves and BD-rate recomputed, percentile interval).
"""
from __future__ import annotations

import argparse
import csv
from html import escape
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from tabulate import tabulate
from tqdm import tqdm

from bench.bdrate import FLAG_LOW_OVERLAP, METHODS, BDRateError, bd_psnr, bd_rate
from bench.curves import ALL_METRICS as METRICS, DATASETS, Curve, CurveError, CurveLibrary, to_metric
from bench.published import HEADLINE

ANCHORS_DIR = Path(__file__).resolve().parents[1] / "anchors"
METHOD_NAMES = {"cubic": "cubic (VCEG-M33)", "pchip": "pchip (JCTVC-E137/CTC)",
                "akima": "akima"}


@dataclass
class PerImageSpread:
    """Per-image BD-rates of one codec against the anchor, and a bootstrap interval.

    Attributes:
        images: number of images with results for both (and at all qualities).
        median, low, high: median, min and max of the per-image BD-rates (percent), over the
            images where one is defined (``defined`` of them).
        ci: (2.5, 97.5) percentiles of the bootstrapped table BD-rate (percent), or None.
        undefined_resamples: resamples whose mean curves defined no BD-rate (left out of ci).
        values: image -> its BD-rate (percent), for the ``defined`` images.
    """

    images: int
    defined: int
    median: float
    low: float
    high: float
    ci: Optional[Tuple[float, float]]
    undefined_resamples: int = 0
    values: Dict[str, float] = field(default_factory=dict)


@dataclass
class Row:
    """One table row: one codec, one method."""

    curve: Curve
    method: str
    bd_rate: Optional[float] = None
    bd_metric: Optional[float] = None
    overlap: Optional[float] = None
    flags: List[str] = field(default_factory=list)
    spread: Optional[PerImageSpread] = None


def compare(anchor: Curve, test: Curve, metric: str, method: str) -> Row:
    """BD-rate and BD-metric of ``test`` against ``anchor``; errors become flags."""
    row = Row(test, method, flags=list(test.notes) + [f"anchor {n}" for n in anchor.notes])
    rates_a, dist_a = anchor.points(metric)
    rates_t, dist_t = test.points(metric)
    try:
        rate = bd_rate(rates_a, dist_a, rates_t, dist_t, method)
        row.bd_rate, row.overlap = rate.value, rate.overlap
        row.flags += [f for f in rate.flags if f not in row.flags]
        at_equal_rate = bd_psnr(rates_a, dist_a, rates_t, dist_t, method)
        row.bd_metric = at_equal_rate.value
        if FLAG_LOW_OVERLAP in at_equal_rate.flags:
            row.flags.append("low-rate-overlap")
    except BDRateError as e:
        row.flags.append(f"n/a: {e}")
    return row


def per_image_spread(anchor: Curve, test: Curve, metric: str, method: str,
                     bootstrap: int, rng: np.random.Generator) -> Optional[PerImageSpread]:
    """Per-image BD-rates and a bootstrap interval; None unless both have per-image results."""
    if anchor.per_image is None or test.per_image is None:
        return None
    images_a, bpp_a, val_a = anchor.image_table(metric)
    images_t, bpp_t, val_t = test.image_table(metric)
    common = sorted(set(images_a) & set(images_t))
    if not common:
        return None
    ia = [images_a.index(i) for i in common]
    it = [images_t.index(i) for i in common]
    bpp_a, val_a, bpp_t, val_t = bpp_a[ia], val_a[ia], bpp_t[it], val_t[it]

    def rate(rows) -> float:
        """BD-rate of the mean curves over the images ``rows`` (indices into ``common``)."""
        return bd_rate(bpp_a[rows].mean(0), to_metric(val_a[rows].mean(0), metric),
                       bpp_t[rows].mean(0), to_metric(val_t[rows].mean(0), metric),
                       method).value

    values = {}
    for k, image in enumerate(common):
        try:
            values[image] = rate([k])
        except BDRateError:
            pass
    per_image = list(values.values())
    samples = []
    for _ in tqdm(range(bootstrap), desc=f"bootstrap {test.name}", leave=False,
                  disable=bootstrap == 0):
        pick = rng.integers(0, len(common), len(common))
        try:
            samples.append(rate(pick))
        except BDRateError:
            pass
    ci = tuple(np.percentile(samples, [2.5, 97.5])) if samples else None
    undefined = bootstrap - len(samples)
    if not per_image:
        return PerImageSpread(len(common), 0, np.nan, np.nan, np.nan, ci, undefined)
    return PerImageSpread(len(common), len(per_image), float(np.median(per_image)),
                          float(np.min(per_image)), float(np.max(per_image)), ci, undefined,
                          values)


def select_curves(library: CurveLibrary, anchor: Curve, codecs: Optional[List[str]] = None) -> List[Curve]:
    """Every curve of the dataset but the anchor, ours first (or those named in ``codecs``)."""
    curves = [c for c in library.ours() + library.published() if not c.same_as(anchor)]
    if codecs:
        unknown = sorted(set(codecs) - {c.name for c in curves})
        if unknown:
            raise CurveError(f"no curve named {', '.join(unknown)} on {library.dataset}")
        curves = [c for c in curves if c.name in codecs]
    return curves


def build_rows(library: CurveLibrary, anchor: Curve, metric: str, methods: List[str],
               codecs: Optional[List[str]] = None, per_image: bool = False,
               bootstrap: int = 1000, seed: int = 0) -> List[Row]:
    """Rows for every curve of the dataset but the anchor (or those named in ``codecs``):
    ours first, then published ones by BD-rate of the first method."""
    curves = [c for c in select_curves(library, anchor, codecs) if c.points(metric)[0].size]
    if not curves:
        raise CurveError(f"no curves with {METRICS[metric][0]} on {library.dataset} to compare "
                         f"(results in {library.results / library.dataset}, published in "
                         f"{library.anchors / 'published'})")
    rng = np.random.default_rng(seed)
    rows = []
    for curve in curves:
        for method in methods:
            row = compare(anchor, curve, metric, method)
            if per_image:
                row.spread = per_image_spread(anchor, curve, metric, method, bootstrap, rng)
                if row.spread and row.spread.undefined_resamples:
                    row.flags.append(f"{row.spread.undefined_resamples} of {bootstrap} "
                                     "bootstrap resamples defined no BD-rate")
            rows.append(row)
    first = {r.curve.name: r.bd_rate for r in rows if r.method == methods[0]}
    return sorted(rows, key=lambda r: (r.curve.kind != "ours",
                                       first[r.curve.name] is None,
                                       first[r.curve.name] or 0.0, r.curve.name,
                                       methods.index(r.method)))


def _number(value: Optional[float], digits: int, full: bool) -> str:
    if value is None or not np.isfinite(value):
        return "n/a"
    return repr(float(value)) if full else f"{value:+.{digits}f}"


def _relative(path: str) -> str:
    """``path`` relative to the working folder where it lies below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def common_flags(rows: List[Row]) -> List[Tuple[str, str]]:
    """The anchor's flags (``anchor incomplete: ...``, ``n/a: anchor curve has ...``) that every
    row of a method carries, as (which rows, flag): said once instead of on each row.  Which
    rows is ``"Every row"``, or ``"Every cubic row"`` where only that method's rows carry it."""
    methods = sorted({r.method for r in rows}, key=METHODS.index)
    found = []
    for flag in dict.fromkeys(f for r in rows for f in r.flags if f.startswith(("anchor ", "n/a: anchor "))):
        carrying = [m for m in methods if all(flag in r.flags for r in rows if r.method == m)]
        if any(flag in r.flags for r in rows if r.method not in carrying) or \
                sum(r.method in carrying for r in rows) < 2:
            continue
        found.append(("Every row" if carrying == methods else f"Every {'/'.join(carrying)} row", flag))
    return found


def table_cells(rows: List[Row], metric: str, per_image: bool, full: bool = False,
                leave_out: Sequence[str] = (), complexity: Optional[Dict[str, Dict[str, str]]] = None):
    """Header and cells of the table; ``full`` keeps all digits (csv); the flags in
    ``leave_out`` are not repeated in the rows; ``complexity`` (:func:`load_complexity`) adds
    its columns."""
    label, unit = METRICS[metric]
    metric_name = {"psnr": "BD-PSNR (dB)", "ms-ssim": "BD-MS-SSIM (dB)"}.get(
        metric, f"BD-{label}" + (f" ({unit})" if unit else ""))
    header = ["codec", "name", "BD-rate (%)", metric_name, "bpp range", "overlap", "method",
              "flags", "data"]
    if per_image:
        header += ["images", "per-image median (%)", "per-image min..max (%)", "bootstrap 95% CI"]
    cells = []
    for r in rows:
        bpp = r.curve.points(metric)[0]
        cells.append([
            r.curve.label, r.curve.name, _number(r.bd_rate, 2, full),
            _number(r.bd_metric, 3, full), f"{bpp.min():.3f}-{bpp.max():.3f}",
            "n/a" if r.overlap is None else f"{100 * r.overlap:.0f}%", r.method,
            "; ".join(f for f in r.flags if f not in leave_out),
            r.curve.source if full else _relative(r.curve.path)])
        if per_image:
            s = r.spread
            if s is None:
                cells[-1] += ["", "", "", ""]
            else:
                ci = "n/a" if s.ci is None else \
                    f"[{_number(s.ci[0], 2, full)}, {_number(s.ci[1], 2, full)}]"
                cells[-1] += [f"{s.defined}/{s.images}", _number(s.median, 2, full),
                              f"{_number(s.low, 2, full)}..{_number(s.high, 2, full)}", ci]
    if complexity is not None:
        header += list(COMPLEXITY_HEADERS)
        for r, c in zip(rows, cells):
            c += _complexity_cells(r.curve, complexity)
    return header, cells


def render(rows: List[Row], anchor: Curve, dataset: str, metric: str, fmt: str,
           per_image: bool, complexity: Optional[Dict[str, Dict[str, str]]] = None) -> str:
    """The table as markdown (with a title and the sources), LaTeX, csv, or an HTML fragment
    (title, notes, ``<table>`` and the sources, every text escaped)."""
    methods = sorted({r.method for r in rows}, key=METHODS.index)
    title = (f"BD-rate against {anchor.label} on {dataset}, {METRICS[metric][0]}, "
             f"{', '.join(METHOD_NAMES[m] for m in methods)}; negative = fewer bits than the "
             "anchor at equal quality")
    if fmt == "csv":
        header, cells = table_cells(rows, metric, per_image, full=True, complexity=complexity)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["source" if h == "data" else h for h in header]
        writer.writerow(["dataset", "anchor", "metric"] + header)
        for c in cells:
            writer.writerow([dataset, anchor.name, metric] + c)
        return buf.getvalue()
    common = common_flags(rows)
    header, cells = table_cells(rows, metric, per_image, leave_out=[flag for _, flag in common],
                                complexity=complexity)
    sources = [f"{anchor.label}: {anchor.source}"]
    seen = set()
    for r in rows:
        if r.curve.name not in seen:
            seen.add(r.curve.name)
            sources.append(f"{r.curve.label}: {r.curve.source}")
    notes = [f"{which}: {flag}" for which, flag in common]
    if per_image and anchor.per_image is None:
        notes.append("Per-image columns are empty: the anchor has no per-image results.")
    if complexity is not None:
        notes.append(f"Complexity: {COMPLEXITY_NOTE}")
    if fmt == "html":
        return "\n".join(
            [f'<p class="caption">{escape(title)}</p>'] + [f'<p class="note">{escape(n)}</p>' for n in notes]
            + [tabulate(cells, header, tablefmt="html", disable_numparse=True),
               "<details><summary>Sources</summary><ul>"]
            + [f"<li>{escape(s)}</li>" for s in sources] + ["</ul></details>"]) + "\n"
    if fmt == "latex":
        lines = [f"% {title}"] + [f"% {n}" for n in notes] + [
                 tabulate(cells, header, tablefmt="latex_booktabs", disable_numparse=True)]
        lines += [f"% {s}" for s in sources]
        return "\n".join(lines) + "\n"
    lines = [title, ""] + (notes + [""] if notes else [])
    lines += [tabulate(cells, header, tablefmt="github", disable_numparse=True), "",
              "Sources:"] + [f"- {s}" for s in sources]
    return "\n".join(lines) + "\n"


@dataclass
class MetricsRow:
    """One row of the ``--metric all`` table: one codec, its BD-rate on every metric (one method).

    Attributes:
        curve: the codec's curve.
        rows: metric name -> :class:`Row` (None where the codec's curve lacks the metric).
    """

    curve: Curve
    rows: Dict[str, Optional[Row]]


def anchor_metrics(anchor: Curve) -> List[str]:
    """The registered metrics the anchor has, in registry order."""
    return [m for m in METRICS if anchor.points(m)[0].size]


def build_metric_rows(library: CurveLibrary, anchor: Curve, method: str,
                      codecs: Optional[List[str]] = None) -> List[MetricsRow]:
    """BD-rate of every curve against ``anchor`` on each metric the anchor has (one method):
    curves with at least one of those metrics, ours first, then by their first BD-rate."""
    metrics = anchor_metrics(anchor)
    rows = []
    for curve in select_curves(library, anchor, codecs):
        found = {m: compare(anchor, curve, m, method) if curve.points(m)[0].size else None for m in metrics}
        if any(r is not None for r in found.values()):
            rows.append(MetricsRow(curve, found))

    def order(r: MetricsRow):
        first = next((x.bd_rate for x in r.rows.values() if x is not None), None)
        return r.curve.kind != "ours", first is None, first or 0.0, r.curve.name
    return sorted(rows, key=order)


def _own_flags(row: Row) -> List[str]:
    """A comparison's flags other than the curves' ``incomplete`` notes and the anchor's."""
    return [f for f in row.flags if not f.startswith(("anchor ", "incomplete"))]


def _bd_cell(row: Optional[Row]) -> str:
    """A cell's BD-rate, ``*`` after it where the comparison carries a flag, ``n/a`` when undefined,
    empty when the codec lacks the metric."""
    if row is None:
        return ""
    return _number(row.bd_rate, 2, False) + ("*" if _own_flags(row) and row.bd_rate is not None else "")


def render_metrics(rows: List[MetricsRow], anchor: Curve, dataset: str, method: str, fmt: str,
                   complexity: Optional[Dict[str, Dict[str, str]]] = None) -> str:
    """The ``--metric all`` table (markdown, LaTeX or csv): one row per codec, one BD-rate (%)
    column per metric the anchor has, then the complexity columns when given."""
    metrics = anchor_metrics(anchor)
    extra = list(COMPLEXITY_HEADERS) if complexity is not None else []
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["dataset", "anchor", "method", "codec", "name"] + metrics + extra + ["flags", "source"])
        for r in rows:
            flags = [f"{m}: {f}" for m, x in r.rows.items() if x is not None for f in x.flags]
            writer.writerow([dataset, anchor.name, method, r.curve.label, r.curve.name]
                            + ["" if x is None else _number(x.bd_rate, 2, True) for x in r.rows.values()]
                            + _complexity_cells(r.curve, complexity) + ["; ".join(flags), r.curve.source])
        return buf.getvalue()
    header = ["codec", "name"] + [METRICS[m][0] for m in metrics] + extra
    cells = [[r.curve.label, r.curve.name] + [_bd_cell(r.rows[m]) for m in metrics]
             + _complexity_cells(r.curve, complexity) for r in rows]
    title = (f"BD-rate (%) against {anchor.label} on {dataset} per metric, {METHOD_NAMES[method]}; negative = "
             "fewer bits than the anchor at equal quality (NLPD as -NLPD: lower NLPD is better)")
    missing = [METRICS[m][0] for m in METRICS if m not in metrics]
    notes = [f"The anchor has no {', '.join(missing)}: no column."] if missing else []
    if complexity is not None:
        notes.append(f"Complexity: {COMPLEXITY_NOTE}")
    after = [f"* {r.curve.name}, {METRICS[m][0]}: {'; '.join(_own_flags(x))}"
             for r in rows for m, x in r.rows.items() if x is not None and _bd_cell(x).endswith("*")]
    after += sorted({f"{r.curve.name}: {f}" for r in rows for x in r.rows.values() if x is not None
                     for f in x.flags if f.startswith("incomplete")})
    after += [f"{r.curve.name}, {METRICS[m][0]}: {f}" for r in rows for m, x in r.rows.items()
              if x is not None and x.bd_rate is None for f in x.flags if f.startswith("n/a")]
    if fmt == "latex":
        lines = [f"% {title}"] + [f"% {n}" for n in notes] + [
            tabulate(cells, header, tablefmt="latex_booktabs", disable_numparse=True)] + [f"% {a}" for a in after]
        return "\n".join(lines) + "\n"
    lines = [title, ""] + (notes + [""] if notes else [])
    lines += [tabulate(cells, header, tablefmt="github", disable_numparse=True), ""]
    lines += [f"- {a}" for a in after]
    lines += ["", "Sources:", f"- {anchor.label}: {anchor.source}"] + [f"- {r.curve.label}: {r.curve.source}" for r in rows]
    return "\n".join(lines) + "\n"


#: Columns ``--complexity`` adds, and where their numbers come from.
COMPLEXITY_HEADERS = ("enc kMAC/px", "dec kMAC/px", "params (M)", "dec params (M)")
COMPLEXITY_FILE = Path(__file__).resolve().parents[1] / "results" / "complexity.csv"
COMPLEXITY_NOTE = ("kMAC per pixel of compress / decompress and parameter counts (all; those the decoder "
                   "runs) of the learned architectures in their paper configurations, from results/complexity.csv "
                   "(python -m bench.perf.flops), at the --complexity-size; for our curves of the default result "
                   "set (a named set, codec@set, may hold another configuration) and the published <arch>-paper "
                   "curves; empty for other codecs.")


def load_complexity(path: Path, size: Tuple[int, int]) -> Dict[str, Dict[str, str]]:
    """Architecture -> its complexity row at ``size`` (width, height) from a ``bench.perf.flops``
    file.  Raises CurveError when the file is unreadable or has no row at that size."""
    from bench.perf.flops import read

    try:
        rows = read(path)
    except (OSError, ValueError, KeyError) as err:
        raise CurveError(f"cannot read the complexity file {path}: {err} "
                         "(python -m bench.perf.flops --write FILE writes one)") from None
    found = {r["arch"]: r for r in rows if (int(r["width"]), int(r["height"])) == tuple(size)}
    if not found:
        raise CurveError(f"{path} has no row at {size[0]}x{size[1]} "
                         f"(python -m bench.perf.flops --sizes {size[0]}x{size[1]} --write {path})")
    return found


def _complexity_cells(curve: Curve, complexity: Optional[Dict[str, Dict[str, str]]]) -> List[str]:
    """The complexity cells of a curve: by its name, for our curves of the default result set
    (``segpic``, not ``segpic@set``: a result set may hold another configuration, such as the
    small training one, which the rows do not record) and the published paper curves of the
    architectures (``segpic-paper``: the paper configuration itself)."""
    if complexity is None:
        return []
    paper = curve.kind == "published" and curve.name.endswith("-paper")
    row = complexity.get(curve.name[:-len("-paper")] if paper else curve.name) \
        if curve.kind == "ours" or paper else None
    if row is None:
        return [""] * len(COMPLEXITY_HEADERS)
    return [row["encoder_kmac_per_pixel"], row["decoder_kmac_per_pixel"],
            f"{int(row['parameters']) / 1e6:.2f}", f"{int(row['decoder_parameters']) / 1e6:.2f}"]


def _size(text: str) -> Tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bdrate`` command's options."""
    parser.add_argument("--anchor", default="vtm17",
                        help="anchor: a named anchor (vtm17), a curve name, or a curve file "
                             "(default vtm17)")
    parser.add_argument("--dataset", default="kodak",
                        help=f"dataset name ({', '.join(DATASETS)}; default kodak)")
    parser.add_argument("--metric", choices=list(METRICS) + ["all"], default="psnr",
                        help="the BD metric (README: Metrics); all: one row per codec, one column per metric "
                             "(one --method)")
    parser.add_argument("--method", choices=list(METHODS) + ["all"], default="cubic",
                        help="cubic = VCEG-M33, pchip = JCTVC-E137/CTC spreadsheet, akima")
    parser.add_argument("--format", choices=["markdown", "latex", "csv", "html"], default="markdown")
    parser.add_argument("--results", type=Path, default=Path("runs"),
                        help="results folder holding <dataset>/*.csv (default runs, where bench run "
                             "writes; 'results' for the result sets committed with the repository)")
    parser.add_argument("--anchors", type=Path, default=ANCHORS_DIR,
                        help="anchors folder holding vtm17/ and published/ (default: the "
                             "repository's anchors/)")
    parser.add_argument("--codecs", nargs="+", metavar="NAME",
                        help="only these curves (names as in the table's 'name' column), or 'all' "
                             f"(default: ours and {', '.join(HEADLINE)})")
    parser.add_argument("--per-image", action="store_true",
                        help="add per-image BD-rate spread and a bootstrap 95%% interval")
    parser.add_argument("--bootstrap", type=int, default=1000, metavar="N",
                        help="bootstrap resamples for --per-image (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--complexity", action="store_true",
                        help="add kMAC/pixel and parameter columns for the learned codecs (results/complexity.csv)")
    parser.add_argument("--complexity-file", type=Path, default=COMPLEXITY_FILE,
                        help="complexity file (default: the repository's results/complexity.csv)")
    parser.add_argument("--complexity-size", type=_size, default=(768, 512), metavar="WxH",
                        help="input size of the complexity columns (default 768x512, Kodak's)")


def chosen_codecs(library: CurveLibrary, anchor: Curve, codecs: Optional[List[str]]) -> Optional[List[str]]:
    """The names ``build_rows`` gets: those given, None (every curve) for ``all``, else ours and
    the headline published curves of the dataset (with a note on stderr when there are no runs)."""
    if codecs == ["all"]:
        return None
    if codecs:
        return codecs
    ours = [c.name for c in library.ours() if not c.same_as(anchor)]
    if not ours:
        print(f"note: no results in {library.results / library.dataset} (python -m bench run writes them "
              "there; --results results reads the result sets committed with the repository)", file=sys.stderr)
    return ours + [c.name for c in library.published() if c.name in HEADLINE and not c.same_as(anchor)]


def main(args: argparse.Namespace) -> int:
    """Print the table.  Bad input raises :class:`CurveError` or :class:`BDRateError`
    (user errors: ``python -m bench`` reports them in one line, exit status 2)."""
    if args.bootstrap < 0:
        raise CurveError("--bootstrap must be >= 0")
    library = CurveLibrary(args.dataset, args.results, args.anchors)
    anchor = library.resolve(args.anchor)
    complexity = load_complexity(args.complexity_file, args.complexity_size) if args.complexity else None
    if args.metric == "all":
        if args.method == "all" or args.per_image:
            raise CurveError("--metric all takes one --method and no --per-image")
        rows = build_metric_rows(library, anchor, args.method, chosen_codecs(library, anchor, args.codecs))
        if not rows:
            raise CurveError(f"no curves on {library.dataset} share a metric with {anchor.label}")
        sys.stdout.write(render_metrics(rows, anchor, args.dataset, args.method, args.format, complexity))
        return 0
    if not anchor.points(args.metric)[0].size:
        raise CurveError(f"anchor {anchor.label} has no {METRICS[args.metric][0]} values")
    methods = list(METHODS) if args.method == "all" else [args.method]
    rows = build_rows(library, anchor, args.metric, methods, chosen_codecs(library, anchor, args.codecs),
                      args.per_image,
                      args.bootstrap, args.seed)
    sys.stdout.write(render(rows, anchor, args.dataset, args.metric, args.format,
                            args.per_image, complexity))
    return 0
