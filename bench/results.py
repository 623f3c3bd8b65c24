"""Result files of ``bench run``: per-image rows, and per-codec curves in CompressAI's format.

Layout under the output folder (``--out``, default ``runs/``, ignored by git; the committed result sets
are in the repository's ``results/``)::

    <out>/<dataset>/<label>/per_image.csv     one row per (image, codec, quality)
    <out>/<dataset>/<label>/<codec>.json      CompressAI results format, one per codec
    <out>/<dataset>/streams/<label>/<codec>/q<quality>/<image><ext>   the bitstreams

Columns (DESIGN.md): ``dataset, image, width, height, codec, codec_version, quality,
bytes, bpp, psnr_rgb, ms_ssim_rgb, ms_ssim_db, encode_s, decode_s, checkpoint_sha, device``.
bpp = bytes x 8 / (width x height); PSNR and MS-SSIM dB in dB; seconds of wall clock.
After these come the columns of the metrics chosen beyond the default (``bench run --metrics``,
``bench metrics``; :data:`METRIC_COLUMNS`, in the registry's order), each present in the file
once any row has it; a row that lacks a value there holds an empty cell, read as NaN.
``checkpoint_sha`` is empty for codecs without a checkpoint; ``machine`` says where the row
was measured (:func:`bench.provenance.describe`: CPU, ISA level in use, threads, torch and
MKL versions); ``device`` is the kind of device a learned codec ran on, ``cpu`` or
``cuda`` (streams decode exactly only on the kind that encoded them).  A curve point is the
mean over images of the per-image values at one quality (:func:`curve_points`, the one place
where per-image rows become a curve: here and in :mod:`bench.curves`).  A value that an image
of that quality lacks (NaN) makes the point's mean missing, and the curve ``incomplete``
(:func:`incomplete_notes`): never a mean over fewer images paired with a bpp over all.

Files are replaced atomically (temp file in the same folder, then ``os.replace``), so a
killed run leaves either the previous or the new complete file, never half a row.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Sequence, Tuple

from .metrics import REGISTRY

COLUMNS = (
    "dataset", "image", "width", "height", "codec", "codec_version", "quality", "bytes", "bpp",
    "psnr_rgb", "ms_ssim_rgb", "ms_ssim_db", "encode_s", "decode_s", "checkpoint_sha", "machine", "device",
)
#: Optional metric columns (every registered metric's beyond those in COLUMNS) -> JSON key.
METRIC_COLUMNS = {c: k for m in REGISTRY.values() for c, k in zip(m.columns, m.json_keys) if c not in COLUMNS}
#: Columns that result files written before they existed lack, and the value they read as
#: (rows were all coded on the CPU before ``device`` existed).
_LATER_COLUMNS = {"machine": "", "device": "cpu"}
#: Decimal places written for each float column.
_DECIMALS = {"bpp": 6, "psnr_rgb": 6, "ms_ssim_rgb": 8, "ms_ssim_db": 6, "encode_s": 5, "decode_s": 5,
             "vif": 8, "fsim": 8, "nlpd": 8, "iw_ssim": 8}
#: CSV column -> key in CompressAI's results JSON.
_JSON_KEYS = {
    "bpp": "bpp", "psnr_rgb": "psnr-rgb", "ms_ssim_rgb": "ms-ssim-rgb", "ms_ssim_db": "ms-ssim-rgb-db",
    "encode_s": "encoding_time", "decode_s": "decoding_time",
}

Key = Tuple[str, str, str]


def result_dir(out: Path, dataset: str, label: str) -> Path:
    return Path(out) / dataset / label


def stream_dir(out: Path, dataset: str, label: str) -> Path:
    return Path(out) / dataset / "streams" / label


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temp file in the same folder and ``os.replace``,
    so readers see the old or the new file, never part of one.  The file gets the usual
    permissions (the umask applies).  Every text file the bench writes goes through here."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def format_value(column: str, value) -> str:
    """The CSV text of one value: floats with fixed decimals, ``nan``/``inf`` spelled out."""
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return str(value)
        return f"{value:.{_DECIMALS.get(column, 6)}f}"
    return "" if value is None else str(value)


def _quality_order(quality: str):
    try:
        return (0, float(quality), quality)
    except ValueError:
        return (1, 0.0, quality)


#: Metric columns -> the name a note gives them.
METRIC_NAMES = {"psnr_rgb": "PSNR-RGB", "ms_ssim_rgb": "MS-SSIM-RGB",
                **{m.bd_column: m.label for m in REGISTRY.values()}}


def to_float(value) -> float:
    """A cell as a float: an empty one (a metric not computed for that row) is NaN."""
    return math.nan if value is None or value == "" else float(value)


def curve_points(rows: Iterable[Mapping], columns: Sequence[str]) -> List[dict]:
    """Per-image rows (each with ``quality`` and float ``columns``) -> one point per quality,
    qualities ascending: ``{"quality", "images", <column>: mean over the images, "missing":
    {column: images without a value}}``.  A column is NaN at a point where any image lacks it.
    Means are exactly rounded (``math.fsum``), so they do not depend on the order of the rows."""
    groups: Dict[str, List[Mapping]] = defaultdict(list)
    for row in rows:
        groups[str(row["quality"])].append(row)
    points = []
    for quality in sorted(groups, key=_quality_order):
        group = groups[quality]
        point = {"quality": quality, "images": len(group), "missing": {}}
        for column in columns:
            values = [to_float(r.get(column)) for r in group]
            lacking = sum(math.isnan(v) for v in values)
            point[column] = math.nan if lacking else math.fsum(values) / len(values)
            if lacking:
                point["missing"][column] = lacking
        points.append(point)
    return points


def incomplete_notes(points: Sequence[dict], columns: Sequence[str] = tuple(METRIC_NAMES)) -> List[str]:
    """``incomplete: ...`` for each metric that some points of a curve have and others lack
    (one that no image has at all, e.g. MS-SSIM of images below 161 pixels, is just absent)."""
    notes = []
    for column in columns:
        lacking = [p for p in points if column in p["missing"]]
        if lacking and not all(p["missing"].get(column) == p["images"] for p in points):
            where = ", ".join(f"quality {p['quality']} ({p['missing'][column]} of {p['images']} images)"
                              for p in lacking)
            notes.append(f"incomplete: {METRIC_NAMES.get(column, column)} missing at {where}")
    return notes


class ResultTable:
    """The per-image rows of one result set, keyed by (image, codec, quality).

    Rows are kept as ``{column: text}`` dicts exactly as written in the CSV: the
    :data:`COLUMNS`, and those :data:`METRIC_COLUMNS` that the row has.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: Dict[Key, Dict[str, str]] = {}
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):  # left by a killed run
            stale.unlink()
        if self.path.is_file():
            with open(self.path, newline="") as f:
                for row in csv.DictReader(f):
                    for c, value in _LATER_COLUMNS.items():
                        row.setdefault(c, value)
                    if all(row.get(c) is not None for c in COLUMNS):
                        kept = {c: row[c] for c in COLUMNS}
                        kept.update({c: row[c] for c in METRIC_COLUMNS if row.get(c) not in (None, "")})
                        self.rows[self.key(row)] = kept

    @staticmethod
    def key(row) -> Key:
        return (str(row["image"]), str(row["codec"]), str(row["quality"]))

    def __contains__(self, key: Key) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: dict) -> None:
        """Add (or replace) one row given as ``{column: value}`` (metric columns it lacks stay empty)."""
        text = {c: format_value(c, row.get(c)) for c in COLUMNS}
        text.update({c: format_value(c, row[c]) for c in METRIC_COLUMNS if row.get(c) is not None})
        self.rows[self.key(text)] = text

    def set_metrics(self, key: Key, values: Mapping[str, float]) -> None:
        """Set metric columns of the row at ``key`` (``{column: value}``, e.g. from ``bench metrics``)."""
        self.rows[key].update({c: format_value(c, v) for c, v in values.items()})

    def metric_columns(self) -> List[str]:
        """The optional metric columns some row has, in the registry's order."""
        present = {c for row in self.rows.values() for c in row}
        return [c for c in METRIC_COLUMNS if c in present]

    def save(self) -> None:
        """Rewrite the CSV atomically, rows sorted by codec, quality and image."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS + tuple(self.metric_columns()), restval="",
                                lineterminator="\n")
        writer.writeheader()
        order = sorted(self.rows, key=lambda k: (k[1], _quality_order(k[2]), k[0]))
        writer.writerows(self.rows[k] for k in order)
        atomic_write(self.path, buf.getvalue())

    def codecs(self) -> List[str]:
        return sorted({k[1] for k in self.rows})

    def curve(self, codec: str) -> List[dict]:
        """Per quality (ascending): mean of each per-image value and the image count
        (:func:`curve_points`), and the codec version of its first row."""
        rows = [row for (_, c, _), row in self.rows.items() if c == codec]
        columns = tuple(_JSON_KEYS) + tuple(c for c in self.metric_columns() if any(c in r for r in rows))
        points = curve_points(rows, columns)
        for point in points:
            point["codec_version"] = next(r["codec_version"] for r in rows if r["quality"] == point["quality"])
        return points

    def write_json(self, codec: str, dataset: str, label: str) -> Path:
        """Write ``<codec>.json`` next to the CSV in CompressAI's results format.

        NaN (MS-SSIM of images too small for it) and inf (lossless PSNR) are written as ``null``;
        a metric missing at some points only is named in the description (``incomplete: ...``).
        """
        points = self.curve(codec)
        versions = sorted({p["codec_version"] for p in points})
        machines = sorted({r["machine"] for (_, c, _), r in self.rows.items() if c == codec and r["machine"]})
        counts = sorted({p["images"] for p in points})
        notes = "".join(f"; {n}" for n in incomplete_notes(points))
        results: Dict[str, list] = {"quality": [_number(p["quality"]) for p in points]}
        keys = {**_JSON_KEYS, **{c: k for c, k in METRIC_COLUMNS.items() if points and c in points[0]}}
        for column, key in keys.items():
            results[key] = [p[column] if math.isfinite(p[column]) else None for p in points]
        document = {
            "name": codec,
            "description": f"{codec} ({'; '.join(versions)}) on {dataset}, result set '{label}': "
            f"mean of per-image values over {'/'.join(map(str, counts))} images per point{notes}",
            "results": results,
            "machines": machines,
        }
        path = self.path.parent / f"{codec}.json"
        atomic_write(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
        return path


def _number(text: str):
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text else value


def load_json(path: Path) -> dict:
    """Read a CompressAI-format results file."""
    with open(path) as f:
        return json.load(f)

