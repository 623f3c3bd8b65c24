"""RD curves by name: our results, the anchors and the published reference curves.

A curve is one codec on one dataset: points (mean bpp, mean PSNR-RGB, mean MS-SSIM-RGB), sorted
by rate.  Dataset identity is part of its name: ``segpic-paper`` on ``kodak`` and on
``clic2020-pro-valid`` are two curves, and a curve is never looked up without its dataset.

Where curves come from (``anchors`` is the repository's ``anchors/`` folder):

- ours: ``<results>/<dataset>/*.csv`` and ``<results>/<dataset>/<set>/per_image.csv`` (as
  ``bench run --label SET`` writes them), per-image rows (``dataset,image,width,height,codec,
  codec_version,quality,bytes,bpp,psnr_rgb,ms_ssim_rgb,ms_ssim_db,encode_s,decode_s``), one
  curve per ``codec`` (``codec@SET`` for a set other than ``default``);
- anchors: ``anchors/<name>/<dataset>.csv`` (``vtm17``), per-image rows or curve rows;
- published: ``anchors/published/*.csv``, curve rows (``codec,dataset,point,bpp,psnr_rgb,
  ms_ssim_rgb,source``), ``codec`` being the stable name (``segpic-paper``);
- any file path in either form.

Per-image rows become a curve the way every paper in the field does it: per quality, the mean
of per-image bpp and the mean of per-image metrics (MS-SSIM in dB is taken of the mean MS-SSIM),
through :func:`bench.results.curve_points`, the same code ``bench run`` uses.

Curves also carry every other metric their rows have (:mod:`bench.metrics`: VMAF, VIF, ...,
``Curve.values``); ``Curve.points(metric)`` and ``image_table(metric)`` take any registered name.

Every file is checked as it is read: a bpp that is missing, not finite or not positive, an
infinite metric, or an MS-SSIM outside [0, 1] is refused with one line naming the file and
row.  A metric missing at some points of a curve (per-image: at some image of a quality) makes
the point lack it and the curve carry an ``incomplete: ...`` note, shown as a flag.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import pandas as pd

from bench.errors import UserError
from bench.metrics import REGISTRY, bd_values
from bench.published import CURVE_COLUMNS, LABELS as PUBLISHED_LABELS
from bench.results import METRIC_COLUMNS, curve_points, incomplete_notes

DATASETS = ("kodak", "clic2020-pro-valid", "tecnick-100")
PER_IMAGE_COLUMNS = ("dataset", "image", "width", "height", "codec", "codec_version", "quality",
                     "bytes", "bpp", "psnr_rgb", "ms_ssim_rgb", "ms_ssim_db", "encode_s",
                     "decode_s")
# metric option -> (axis name, unit): the metrics every kind of curve has (published ones too),
# which plots and the golden regression use.
METRICS = {"psnr": ("PSNR-RGB", "dB"), "ms-ssim": ("MS-SSIM-RGB", "dB")}
# Every registered metric -> (axis name, unit of its BD quantity): what ``bench bdrate --metric`` takes.
ALL_METRICS = {name: (m.label if m.bd != "negate" else f"-{m.label}", m.unit) for name, m in REGISTRY.items()}
# The metric columns a curve reads besides bpp: the BD column of every registered metric.
_VALUE_COLUMNS = tuple(dict.fromkeys(m.bd_column for m in REGISTRY.values()))

# Named anchors: display label, and how to make one where none is shipped.
ANCHORS = {
    "vtm17": ("VTM-17.0 (anchor)",
              "generate one with `VTM_DIR=PATH python -m bench run --models vtm --dataset "
              "{dataset}` (PATH: a VTM-17.0 tree) and pass `--anchor vtm`"),
}
# Classical codec names -> display names; learned ones come from segpic.registry.
DISPLAY = {"vtm": "VTM", "vvenc": "VVenC", "jpeg": "JPEG", "webp": "WebP", "jpeg2000": "JPEG 2000",
           "avif": "AVIF", "jpegxl": "JPEG XL", "heic": "HEIC"}


def display_name(name: str) -> str:
    """A codec's display name ("SegPIC", "JPEG XL"); the name itself when it has none."""
    from segpic import registry

    if name in registry.REGISTRY:
        return registry.get(name).display
    return DISPLAY.get(name, name)


class CurveError(UserError, ValueError):
    """A curve cannot be found or read.  Reported in one line."""


@dataclass
class Curve:
    """One codec on one dataset.

    Attributes:
        name: the stable name (``segpic``, ``segpic-paper``, ``vtm17``).
        label: the display label (``SegPIC (ours)``, ``SegPIC (paper)``).
        dataset: dataset name (``kodak`` ...).
        kind: ``"ours"``, ``"published"`` or ``"anchor"``.
        bpp, psnr_rgb, ms_ssim_rgb: per point, sorted by bpp: bits per pixel, dB, MS-SSIM in
            [0, 1] (NaN where not published).
        source: where the numbers come from (verbatim for published curves).
        path: the file(s) read.
        per_image: for curves built from per-image rows, those rows with every column of
            the file (``image, quality, bpp, psnr_rgb, ms_ssim_rgb, bytes, codec_version`` ...;
            ``image`` without its file extension); None otherwise.
        notes: caveats found while loading (``incomplete`` ...).
        values: per point, every metric column the curve has (``psnr_rgb``, ``vmaf`` ...; the
            BD column of each registered metric), NaN where a point lacks it.
    """

    name: str
    label: str
    dataset: str
    kind: str
    bpp: np.ndarray
    psnr_rgb: np.ndarray
    ms_ssim_rgb: np.ndarray
    source: str
    path: str
    per_image: Optional[pd.DataFrame] = None
    notes: Tuple[str, ...] = field(default_factory=tuple)
    values: Dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        self.values = {"psnr_rgb": self.psnr_rgb, "ms_ssim_rgb": self.ms_ssim_rgb, **self.values}

    def column(self, metric: str) -> np.ndarray:
        """The stored values of ``metric``'s BD column per point (NaN where absent)."""
        _check(metric)
        return self.values.get(REGISTRY[metric].bd_column, np.full(self.bpp.shape, np.nan))

    def points(self, metric: str = "psnr") -> Tuple[np.ndarray, np.ndarray]:
        """(bpp, metric) over the points that have the metric, as BD-rate integrates it
        (:func:`to_metric`: PSNR in dB, MS-SSIM in dB (-10 log10(1 - MS-SSIM)), -NLPD, others as stored)."""
        values = to_metric(self.column(metric), metric)
        keep = np.isfinite(values)
        return self.bpp[keep], values[keep]

    def same_as(self, other: "Curve") -> bool:
        """Whether ``other`` is this curve read again (same name, dataset and file)."""
        return (self.name, self.dataset) == (other.name, other.dataset) and \
            Path(self.path).resolve() == Path(other.path).resolve()

    def image_table(self, metric: str = "psnr") -> Tuple[List[str], np.ndarray, np.ndarray]:
        """Per-image points as matrices: (images, bpp [images x qualities], metric [same]).

        Only images present at every quality are kept, qualities in ascending order.  The
        metric matrix holds PSNR in dB, or MS-SSIM in [0, 1] for ``ms-ssim`` (so that means over
        images match the curve; ``to_metric`` converts to dB); other metrics as stored."""
        if self.per_image is None:
            raise CurveError(f"{self.label} on {self.dataset} has no per-image results")
        _check(metric)
        column = REGISTRY[metric].bd_column
        if column not in self.per_image:
            raise CurveError(f"{self.label} on {self.dataset} has no per-image {REGISTRY[metric].label}")
        bpp = self.per_image.pivot(index="image", columns="quality", values="bpp").dropna()
        values = self.per_image.pivot(index="image", columns="quality", values=column)
        values = values.loc[bpp.index].dropna()
        bpp = bpp.loc[values.index]
        return list(bpp.index), bpp.to_numpy(np.float64), values.to_numpy(np.float64)


def _check(metric: str) -> None:
    if metric not in REGISTRY:
        raise CurveError(f"unknown metric {metric!r} (choose from {', '.join(REGISTRY)})")


def to_metric(values: np.ndarray, metric: str) -> np.ndarray:
    """The BD metric from the stored one (:func:`bench.metrics.bd_values`): PSNR-RGB (dB) as is,
    MS-SSIM-RGB (in [0, 1]) in dB, -10 log10(1 - MS-SSIM), NLPD negated (lower is better), the
    others as stored."""
    _check(metric)
    return bd_values(values, metric)


def read_curve_file(path: Path, kind: str = "published") -> List[Curve]:
    """All curves in one file, per-image rows or curve rows, one per (codec, dataset)."""
    table = _read_table(path)
    if {"image", "quality", "codec", "dataset", "bpp"} <= set(table.columns):
        return _per_image_curves(_numeric(table, path), kind, str(path))
    if set(CURVE_COLUMNS) - {"source"} <= set(table.columns):
        return _published_curves(_numeric(table, path), kind, str(path))
    raise CurveError(f"{path} is neither a results file ({', '.join(PER_IMAGE_COLUMNS[:9])} ...) "
                     f"nor a curve file ({', '.join(CURVE_COLUMNS)})")


def _read_table(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise CurveError(f"cannot read curve file {path}: {e}") from None


def _numeric(table: pd.DataFrame, path) -> pd.DataFrame:
    """``table`` with bpp, psnr_rgb and ms_ssim_rgb as floats (NaN where a metric is absent),
    each value checked (see the module's docstring)."""
    table = table.copy()
    for column in ("bpp", "psnr_rgb", "ms_ssim_rgb") + tuple(c for c in _VALUE_COLUMNS if c in table):
        if column not in table:
            table[column] = np.nan
        try:
            table[column] = pd.to_numeric(table[column]).astype(np.float64)
        except (ValueError, TypeError):
            raise CurveError(f"{path}: column {column} holds a value that is not a number") \
                from None
    bpp, psnr, ms_ssim = (table[c].to_numpy() for c in ("bpp", "psnr_rgb", "ms_ssim_rgb"))
    problems = [
        (~np.isfinite(bpp) | ~(bpp > 0), "bpp", "a positive finite number"),
        (np.isinf(psnr), "psnr_rgb", "finite (or empty where not measured)"),
        (np.isinf(ms_ssim) | (ms_ssim < 0) | (ms_ssim > 1), "ms_ssim_rgb",
         "in [0, 1] (or empty where not measured)"),
    ]
    for bad, column, must in problems:
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise CurveError(f"{path}, line {row + 2}: {column} is {table[column].iloc[row]}; it must be "
                             f"{must}" + (f" ({int(bad.sum())} such rows)" if bad.sum() > 1 else ""))
    return table


def _join_metrics(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Per-image rows with the metric columns of ``path`` (``image, quality, <columns>``) added by
    (image, quality); every row must find exactly one match, or CurveError."""
    extra = _read_table(path)
    columns = [c for c in extra.columns if c in _VALUE_COLUMNS or c in METRIC_COLUMNS]
    if not {"image", "quality"} <= set(extra.columns) or not columns:
        raise CurveError(f"{path} must have columns image, quality and metric columns")
    if extra.duplicated(["image", "quality"]).any():
        raise CurveError(f"{path} repeats an (image, quality)")
    keys = table[["image", "quality"]].astype(str)
    found = extra[["image", "quality", *columns]].astype({"image": str, "quality": str})
    joined = keys.merge(found, on=["image", "quality"], how="left", validate="one_to_one")
    if joined[columns].isna().all(axis=1).any():
        lacking = joined[joined[columns].isna().all(axis=1)].iloc[0]
        raise CurveError(f"{path} has no row for {lacking['image']} quality {lacking['quality']}")
    return pd.concat([table.drop(columns=[c for c in columns if c in table]), joined[columns]], axis=1)


def _label(name: str, kind: str) -> str:
    if kind == "ours":
        return f"{display_name(name)} (ours)"
    if kind == "anchor" and name in ANCHORS:
        return ANCHORS[name][0]
    return PUBLISHED_LABELS.get(name, name)


def _published_curves(table: pd.DataFrame, kind: str, path: str) -> List[Curve]:
    curves = []
    for (codec, dataset), rows in table.groupby(["codec", "dataset"], sort=True):
        rows = rows.sort_values("bpp")
        sources = rows["source"].dropna().unique() if "source" in rows else []
        points = [{"quality": str(k), "images": 1,
                   "missing": {c: 1 for c in ("psnr_rgb", "ms_ssim_rgb") if np.isnan(row[c])}}
                  for k, (_, row) in enumerate(rows.iterrows(), start=1)]
        curves.append(Curve(
            name=str(codec), label=_label(str(codec), kind), dataset=str(dataset), kind=kind,
            bpp=rows["bpp"].to_numpy(np.float64), psnr_rgb=rows["psnr_rgb"].to_numpy(np.float64),
            ms_ssim_rgb=rows["ms_ssim_rgb"].to_numpy(np.float64),
            source=" ; ".join(map(str, sources)) or path, path=path,
            notes=tuple(n.replace("quality ", "point ").replace(" (1 of 1 images)", "")
                        for n in incomplete_notes(points))))
    return curves


def _per_image_curves(table: pd.DataFrame, kind: str, path: str) -> List[Curve]:
    table = table.assign(image=[Path(str(i)).stem for i in table["image"]])
    table = table.drop_duplicates(["dataset", "codec", "image", "quality"], keep="last")
    curves = []
    for (codec, dataset), rows in table.groupby(["codec", "dataset"], sort=True):
        columns = ("psnr_rgb", "ms_ssim_rgb") + tuple(
            c for c in _VALUE_COLUMNS if c in rows and c not in ("psnr_rgb", "ms_ssim_rgb") and rows[c].notna().any())
        per_image = rows.reset_index(drop=True)
        points = sorted(curve_points(per_image.to_dict("records"), ("bpp",) + columns),
                        key=lambda p: p["bpp"])
        notes = []
        if len({p["images"] for p in points}) > 1:
            counts = ", ".join(f"{p['quality']}: {p['images']}" for p in points)
            notes.append(f"incomplete (images per quality {counts})")
        notes += incomplete_notes(points)
        versions = sorted(map(str, rows["codec_version"].dropna().unique())) \
            if "codec_version" in rows else []
        source = f"{path} ({codec} {', '.join(versions)}; {per_image['image'].nunique()} images)"
        curves.append(Curve(
            name=str(codec), label=_label(str(codec), kind), dataset=str(dataset), kind=kind,
            bpp=np.array([p["bpp"] for p in points]), psnr_rgb=np.array([p["psnr_rgb"] for p in points]),
            ms_ssim_rgb=np.array([p["ms_ssim_rgb"] for p in points]), source=source, path=path,
            per_image=per_image, notes=tuple(notes),
            values={c: np.array([p[c] for p in points]) for c in columns}))
    return curves


class CurveLibrary:
    """Every curve of one dataset: ours from ``results``, anchors and published from ``anchors``.

    Args:
        dataset: dataset name (``kodak``).
        results: the results folder (holds ``<dataset>/*.csv``).
        anchors: the anchors folder (holds ``vtm17/``, ``published/``).
    """

    def __init__(self, dataset: str, results: Path, anchors: Path):
        self.dataset = dataset
        self.results = Path(results)
        self.anchors = Path(anchors)
        self._ours: Optional[List[Curve]] = None
        self._published: Optional[List[Curve]] = None

    def ours(self) -> List[Curve]:
        """Our curves, one per codec, from every per-image results file of the dataset."""
        if self._ours is None:
            self._ours = self._read_ours()
        return self._ours

    def published(self) -> List[Curve]:
        """The published curves of the dataset (``anchors/published/*.csv``)."""
        if self._published is None:
            self._published = [c for f in sorted((self.anchors / "published").glob("*.csv"))
                               for c in read_curve_file(f) if c.dataset == self.dataset]
        return self._published

    def _read_ours(self) -> List[Curve]:
        """Per-image files directly in ``<results>/<dataset>/`` and in its result-set folders
        (``<results>/<dataset>/<set>/per_image.csv`` as ``bench run --label`` writes them).
        Curves of a set other than ``default`` are named ``<codec>@<set>``."""
        folder = self.results / self.dataset
        tables: Dict[str, List[pd.DataFrame]] = {}
        paths: Dict[str, List[str]] = {}
        for f in sorted(folder.rglob("*.csv")):
            parts = f.relative_to(folder).parts
            if "streams" in parts[:-1]:
                continue
            table = _read_table(f)
            if {"image", "quality", "codec", "bpp"} <= set(table.columns):
                result_set = parts[0] if len(parts) > 1 else "default"
                tables.setdefault(result_set, []).append(
                    _numeric(table, f).assign(dataset=self.dataset))
                paths.setdefault(result_set, []).append(str(f))
        curves = []
        for result_set, found in sorted(tables.items()):
            for curve in _per_image_curves(pd.concat(found, ignore_index=True), "ours",
                                           " + ".join(paths[result_set])):
                if result_set != "default":
                    curve.name = f"{curve.name}@{result_set}"
                    curve.label = curve.label.replace(" (ours)", f" (ours, {result_set})")
                curves.append(curve)
        return curves

    def anchor(self, name: str) -> Curve:
        """The named anchor (``vtm17``) for this dataset: ``anchors/<name>/<dataset>.csv``, with the
        metric columns of ``anchors/<name>/<dataset>-metrics.csv`` joined by (image, quality)
        where that file exists (:mod:`bench.anchor_metrics`)."""
        path = self.anchors / name / f"{self.dataset}.csv"
        if not path.is_file():
            hint = ANCHORS.get(name, ("", "pass a curve file with --anchor FILE"))[1]
            raise CurveError(f"no {name} anchor for {self.dataset} ({path} is missing): "
                             + hint.format(dataset=self.dataset))
        extra = self.anchors / name / f"{self.dataset}-metrics.csv"
        if extra.is_file():
            table = _join_metrics(_read_table(path), extra)
            curves = [c for c in _per_image_curves(_numeric(table, path), "anchor", f"{path} + {extra}")
                      if c.dataset == self.dataset]
        else:
            curves = [c for c in read_curve_file(path, kind="anchor") if c.dataset == self.dataset]
        if len(curves) != 1:
            raise CurveError(f"{path} should hold one curve for {self.dataset}, "
                             f"holds {len(curves)}")
        curve = curves[0]
        curve.name, curve.label = name, _label(name, "anchor")
        return curve

    def resolve(self, spec: str) -> Curve:
        """A curve by anchor name, published name, our codec name, or file path."""
        path = Path(spec)
        if path.suffix == ".csv" or path.is_file():
            if not path.is_file():
                raise CurveError(f"curve file {spec} not found")
            curves = read_curve_file(path, kind="anchor")
            matching = [c for c in curves if c.dataset == self.dataset]
            if len(matching) != 1:
                found = ", ".join(f"{c.name} on {c.dataset}" for c in curves) or "none"
                raise CurveError(f"{spec} must hold exactly one curve on {self.dataset} "
                                 f"(found: {found})")
            return matching[0]
        if spec in ANCHORS or (spec != "published" and (self.anchors / spec).is_dir()):
            return self.anchor(spec)
        for curve in self.published() + self.ours():
            if curve.name == spec:
                return curve
        names = sorted({c.name for c in self.published() + self.ours()})
        raise CurveError(f"no curve named {spec!r} on {self.dataset} (known: "
                         f"{', '.join(list(ANCHORS) + names)})")
