"""Result files of ``bench run``: per-image rows, and per-codec curves in CompressAI's format.

Layout under the output folder (``--out``, default ``results/``)::

    <out>/<dataset>/<label>/per_image.csv     one row per (image, codec, quality)
    <out>/<dataset>/<label>/<codec>.json      CompressAI results format, one per codec
    <out>/<dataset>/streams/<label>/<codec>/q<quality>/<image><ext>   the bitstreams

Columns (DESIGN.md): ``dataset, image, width, height, codec, codec_version, quality,
bytes, bpp, psnr_rgb, ms_ssim_rgb, ms_ssim_db, encode_s, decode_s, checkpoint_sha, device``.
bpp = bytes x 8 / (width x height); PSNR and MS-SSIM dB in dB; seconds of wall clock.
``checkpoint_sha`` is empty for codecs without a checkpoint; ``device`` is ``cpu`` or
``cuda:N <GPU name>`` (files written before that column existed read as ``cpu``).  A curve point is the
mean over images of the per-image values at one quality.

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
from typing import Dict, List, Tuple

COLUMNS = (
    "dataset", "image", "width", "height", "codec", "codec_version", "quality", "bytes", "bpp",
    "psnr_rgb", "ms_ssim_rgb", "ms_ssim_db", "encode_s", "decode_s", "checkpoint_sha", "device",
)
#: Values of columns that files written before the column existed lack (every row was coded on the CPU).
_ADDED_COLUMNS = {"device": "cpu"}
#: Decimal places written for each float column.
_DECIMALS = {"bpp": 6, "psnr_rgb": 6, "ms_ssim_rgb": 8, "ms_ssim_db": 6, "encode_s": 5, "decode_s": 5}
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


class ResultTable:
    """The per-image rows of one result set, keyed by (image, codec, quality).

    Rows are kept as ``{column: text}`` dicts exactly as written in the CSV.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.rows: Dict[Key, Dict[str, str]] = {}
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):  # left by a killed run
            stale.unlink()
        if self.path.is_file():
            with open(self.path, newline="") as f:
                for row in csv.DictReader(f):
                    row = {**_ADDED_COLUMNS, **{c: v for c, v in row.items() if v is not None}}
                    if all(c in row for c in COLUMNS):
                        self.rows[self.key(row)] = {c: row[c] for c in COLUMNS}

    @staticmethod
    def key(row) -> Key:
        return (str(row["image"]), str(row["codec"]), str(row["quality"]))

    def __contains__(self, key: Key) -> bool:
        return key in self.rows

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, row: dict) -> None:
        """Add (or replace) one row given as ``{column: value}``."""
        text = {c: format_value(c, row.get(c)) for c in COLUMNS}
        self.rows[self.key(text)] = text

    def save(self) -> None:
        """Rewrite the CSV atomically, rows sorted by codec, quality and image."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        order = sorted(self.rows, key=lambda k: (k[1], _quality_order(k[2]), k[0]))
        writer.writerows(self.rows[k] for k in order)
        atomic_write(self.path, buf.getvalue())

    def codecs(self) -> List[str]:
        return sorted({k[1] for k in self.rows})

    def curve(self, codec: str) -> List[dict]:
        """Per quality (ascending): mean of each per-image value, and the image count."""
        groups: Dict[str, List[Dict[str, str]]] = defaultdict(list)
        for (_, c, q), row in self.rows.items():
            if c == codec:
                groups[q].append(row)
        points = []
        for q in sorted(groups, key=_quality_order):
            rows = groups[q]
            point = {"quality": q, "images": len(rows), "codec_version": rows[0]["codec_version"]}
            for column in _JSON_KEYS:
                point[column] = sum(float(r[column]) for r in rows) / len(rows)
            points.append(point)
        return points

    def write_json(self, codec: str, dataset: str, label: str) -> Path:
        """Write ``<codec>.json`` next to the CSV in CompressAI's results format.

        NaN (MS-SSIM of images too small for it) and inf (lossless PSNR) are written as ``null``.
        """
        points = self.curve(codec)
        versions = sorted({p["codec_version"] for p in points})
        counts = sorted({p["images"] for p in points})
        results: Dict[str, list] = {"quality": [_number(p["quality"]) for p in points]}
        for column, key in _JSON_KEYS.items():
            results[key] = [p[column] if math.isfinite(p[column]) else None for p in points]
        document = {
            "name": codec,
            "description": f"{codec} ({'; '.join(versions)}) on {dataset}, result set '{label}': "
            f"mean of per-image values over {'/'.join(map(str, counts))} images per point",
            "results": results,
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

