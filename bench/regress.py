"""``python -m bench regress``: re-run the golden set and compare it with ``results/golden/``.

    python -m bench regress [--update] [--golden DIR] [--data-root DIR] [--only NAME ...]

The golden set (files in the golden folder, default the repository's ``results/golden/``):

==============  ===========================================================================
classical.csv   per-image rows of jpeg, webp, jpeg2000, avif, jpegxl, heic at 3 qualities
                on 4 Kodak images
learned.csv     per-image rows of the registry's golden architectures (SegPIC, STF, WACNN,
                mbt2018-mean) on 2 Kodak images at 2 rate points,
                from the test checkpoints ``checkpoints/<arch>-q<1|2>.pth``
                (:mod:`bench.golden_weights`)
curves.csv      the mean RD curves :mod:`bench.curves` derives from those rows
bdrate.csv      BD-rate and BD-PSNR (cubic, pchip) of every published curve against the
                VTM-17.0 anchor on kodak and clic2020-pro-valid, PSNR and MS-SSIM
==============  ===========================================================================

Per-image rows are made the way ``bench run`` makes them (:func:`bench.run.code_image`: a
real file per quality, decoded in a separate call), in this process, in a temporary folder.

What must match (``what moved`` lists every value outside its tolerance):

- the set of rows of every file: a missing or an extra row is a regression;
- per-image rows: width, height, bytes and checkpoint_sha exactly; bpp within 1e-6,
  PSNR-RGB within 1e-4 dB, MS-SSIM within 1e-6, MS-SSIM in dB within 1e-4 dB;
- curve points: bpp within 1e-6, PSNR within 1e-4 dB, MS-SSIM within 1e-6, notes exactly;
- BD rows: BD-rate (percent), BD-metric (dB) and overlap within 1e-6, flags exactly.

The version rule.  A classical codec whose ``codec_version`` (library and version) differs
from the golden one is named in a note, and nothing its version explains is compared: not
its bytes, bpp, PSNR or MS-SSIM, nor its curve's values; its rows and image sizes still
are.  A learned codec's bytes are always compared: its weights are the shipped checkpoints
(checked by checkpoint_sha) and its code is this repository, so a changed version string is
noted and excuses nothing.  Encode and decode times are not part of the golden set.

``--update`` runs the same set, rewrites the golden files atomically (only the rows of the
selected codecs or parts) and prints a unified diff of old against new.
"""
from __future__ import annotations

import csv
import difflib
import io
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from tabulate import tabulate
from tqdm import tqdm

from segpic import registry

from . import datasets, golden_streams
from .errors import UserError
from .provenance import describe, machine
from .results import COLUMNS, ResultTable, atomic_write

REPOSITORY = Path(__file__).resolve().parents[1]
DEFAULT_GOLDEN = REPOSITORY / "results" / "golden"

# --- the golden set ---------------------------------------------------------------------

DATASET = "kodak"
CLASSICAL_IMAGES = ("kodim01.png", "kodim04.png", "kodim15.png", "kodim23.png")
#: Low, middle and high rate of each classical codec's default range.
CLASSICAL = {
    "jpeg": (10, 35, 70),
    "webp": (15, 50, 80),
    "jpeg2000": (26, 30, 36),
    "avif": (25, 45, 60),
    "jpegxl": (30, 65, 82),
    "heic": (20, 30, 50),
}
LEARNED_IMAGES = ("kodim04.png", "kodim23.png")
#: The regression set's learned architectures (segpic.registry entries marked golden), rate points 1 and 2.
LEARNED = {name: (1, 2) for name in registry.golden()}
BD_DATASETS = ("kodak", "clic2020-pro-valid")
BD_METHODS = ("cubic", "pchip")
BD_ANCHOR = "vtm17"
PARTS = ("classical", "learned", "bdrate")

# --- golden files and what is compared --------------------------------------------------

#: Tolerance of an exactly compared value.
EXACT = None


@dataclass(frozen=True)
class GoldenFile:
    """One CSV file of the golden set.

    Attributes:
        name: file name in the golden folder.
        columns: its columns, in order.
        key: the columns that identify a row.
        tolerances: compared columns -> absolute tolerance (``EXACT``: the text must match).
        explained_by_version: columns a changed classical codec version excuses.
    """

    name: str
    columns: Tuple[str, ...]
    key: Tuple[str, ...]
    tolerances: Dict[str, Optional[float]]
    explained_by_version: Tuple[str, ...] = ()


# provenance and the device kind are not golden: the golden set is always coded on a CPU
_PER_IMAGE_COLUMNS = tuple(c for c in COLUMNS if c not in ("encode_s", "decode_s", "machine", "device"))
#: Where the golden set was recorded (written by --update, printed when a value moves).
MACHINE_FILE = "machine.json"
_PER_IMAGE_KEY = ("dataset", "image", "codec", "quality")
_PER_IMAGE_TOLERANCES = {"width": EXACT, "height": EXACT, "bytes": EXACT, "bpp": 1e-6, "psnr_rgb": 1e-4,
                         "ms_ssim_rgb": 1e-6, "ms_ssim_db": 1e-4, "checkpoint_sha": EXACT}
_CODED = ("bytes", "bpp", "psnr_rgb", "ms_ssim_rgb", "ms_ssim_db")

CLASSICAL_FILE = GoldenFile("classical.csv", _PER_IMAGE_COLUMNS, _PER_IMAGE_KEY, _PER_IMAGE_TOLERANCES, _CODED)
LEARNED_FILE = GoldenFile("learned.csv", _PER_IMAGE_COLUMNS, _PER_IMAGE_KEY, _PER_IMAGE_TOLERANCES)
CURVES_FILE = GoldenFile(
    "curves.csv", ("dataset", "codec", "point", "bpp", "psnr_rgb", "ms_ssim_rgb", "notes"),
    ("dataset", "codec", "point"), {"bpp": 1e-6, "psnr_rgb": 1e-4, "ms_ssim_rgb": 1e-6, "notes": EXACT},
    ("bpp", "psnr_rgb", "ms_ssim_rgb"))
BDRATE_FILE = GoldenFile(
    "bdrate.csv", ("dataset", "metric", "anchor", "codec", "method", "bd_rate", "bd_metric", "overlap", "flags"),
    ("dataset", "metric", "anchor", "codec", "method"),
    {"bd_rate": 1e-6, "bd_metric": 1e-6, "overlap": 1e-6, "flags": EXACT})
FILES = (CLASSICAL_FILE, LEARNED_FILE, CURVES_FILE, BDRATE_FILE)

Key = Tuple[str, ...]
Records = Dict[Key, Dict[str, str]]


def number_text(value) -> str:
    """Full-precision text of a number (shortest round trip), ``""`` for None."""
    return "" if value is None else repr(float(value))


def records(spec: GoldenFile, rows) -> Records:
    """Rows (``{column: value}``) keyed by ``spec.key``, as text, keeping ``spec.columns``."""
    out = {}
    for row in rows:
        text = {c: "" if row.get(c) is None else str(row[c]) for c in spec.columns}
        out[tuple(text[c] for c in spec.key)] = text
    return out


def _sort_key(key: Key):
    return tuple((0, float(k), "") if _is_number(k) else (1, 0.0, k) for k in key)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def to_csv(spec: GoldenFile, rows: Records) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=spec.columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[k] for k in sorted(rows, key=_sort_key))
    return buf.getvalue()


def read_golden(folder: Path, spec: GoldenFile) -> Records:
    """The rows of one golden file; an unreadable or foreign file is a UserError."""
    path = folder / spec.name
    if not path.is_file():
        raise UserError(f"golden file {path} not found; create the golden set with: python -m bench regress --update")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != spec.columns:
            raise UserError(f"{path} has columns {', '.join(reader.fieldnames or ())}, expected "
                            f"{', '.join(spec.columns)}; regenerate it with --update")
        return records(spec, reader)


# --- comparison -------------------------------------------------------------------------


@dataclass(frozen=True)
class Moved:
    """One value (or row) that differs from the golden set beyond its tolerance."""

    what: str
    golden: str
    now: str
    difference: str
    tolerance: str


def _as_float(text: str) -> Optional[float]:
    try:
        return float(text)
    except ValueError:
        return None


def difference(golden: str, now: str, tolerance: Optional[float]) -> Optional[str]:
    """How ``now`` moved from ``golden`` if beyond ``tolerance``, else None.

    Numbers are compared as floats (NaN equals NaN); text, and numbers compared ``EXACT``ly,
    must be the same text.
    """
    if golden == now:
        return None
    g, n = _as_float(golden), _as_float(now)
    if tolerance is EXACT or g is None or n is None:
        return "changed"
    if math.isnan(g) and math.isnan(n) or g == n:
        return None
    if math.isnan(g) or math.isnan(n) or math.isinf(g) or math.isinf(n):
        return "changed"
    return f"{n - g:+.3g}" if abs(n - g) > tolerance else None


def compare(spec: GoldenFile, golden: Records, now: Records,
            excused: Callable[[Dict[str, str]], Sequence[str]] = lambda row: ()) -> List[Moved]:
    """Every row missing or extra, and every compared value beyond its tolerance.

    ``excused(row)`` names the columns of a golden row not to compare (version rule).
    """
    moved = []
    for key in sorted(golden.keys() | now.keys(), key=_sort_key):
        label = f"{spec.name}: {' '.join(key)}"
        if key not in now:
            moved.append(Moved(label, "row", "missing", "", "same rows"))
            continue
        if key not in golden:
            moved.append(Moved(label, "missing", "row", "", "same rows"))
            continue
        skip = set(excused(golden[key]))
        for column, tolerance in spec.tolerances.items():
            if column in skip:
                continue
            change = difference(golden[key][column], now[key][column], tolerance)
            if change is not None:
                moved.append(Moved(f"{label} {column}", golden[key][column], now[key][column], change,
                                   "exact" if tolerance is EXACT else f"{tolerance:g}"))
    return moved


def version_changes(golden: Records, now: Records) -> Dict[str, Tuple[str, str]]:
    """Codecs whose codec_version differs: codec -> (golden versions, current versions)."""
    def versions(rows: Records) -> Dict[str, set]:
        found: Dict[str, set] = {}
        for row in rows.values():
            found.setdefault(row["codec"], set()).add(row["codec_version"])
        return found

    old, new = versions(golden), versions(now)
    return {codec: (" | ".join(sorted(old[codec])), " | ".join(sorted(new[codec])))
            for codec in sorted(old.keys() & new.keys()) if old[codec] != new[codec]}


# --- running the golden set -------------------------------------------------------------


@dataclass
class Selection:
    """What to run: codec names, and whether to recompute the BD-rates."""

    codecs: Tuple[str, ...]
    bdrate: bool

    @classmethod
    def parse(cls, names: Optional[Sequence[str]]) -> "Selection":
        """``--only``: parts (classical, learned, bdrate) and/or codec names; None: everything."""
        if not names:
            return cls(tuple(CLASSICAL) + tuple(LEARNED), True)
        codecs: List[str] = []
        for name in names:
            if name == "classical":
                codecs += CLASSICAL
            elif name == "learned":
                codecs += LEARNED
            elif name in CLASSICAL or name in LEARNED:
                codecs.append(name)
            elif name != "bdrate":
                raise UserError(f"--only {name}: choose from {', '.join(PARTS + tuple(CLASSICAL) + tuple(LEARNED))}")
        return cls(tuple(dict.fromkeys(codecs)), "bdrate" in names)

    def images(self) -> Tuple[str, ...]:
        """The Kodak images the selected codecs code."""
        classical = CLASSICAL_IMAGES if set(self.codecs) & set(CLASSICAL) else ()
        learned = LEARNED_IMAGES if set(self.codecs) & set(LEARNED) else ()
        return tuple(dict.fromkeys(classical + learned))

    def covers(self, spec: GoldenFile, row: Dict[str, str]) -> bool:
        """Whether this selection recomputes ``row`` of ``spec``."""
        if spec is BDRATE_FILE:
            return self.bdrate
        return row["codec"] in self.codecs


def kodak_folder(option: Optional[str], images: Sequence[str] = CLASSICAL_IMAGES + LEARNED_IMAGES) -> Path:
    """The Kodak folder holding ``images``, their pixels checked.

    Looks in ``--data-root``, else ``$SEGPIC_DATA``, else the default data root
    (``~/.cache/segpic-bench/data``), ``$SEGPIC_SHARED/data`` and the ``shared/data``
    folder beside the checkout (where CI keeps it).
    """
    if option or os.environ.get("SEGPIC_DATA"):
        roots = [datasets.data_root(option)]
    else:
        roots = [datasets.data_root(None)]
        if os.environ.get("SEGPIC_SHARED"):
            roots.append(Path(os.environ["SEGPIC_SHARED"]) / "data")
        roots.append(REPOSITORY.parent / "shared" / "data")
    needed = sorted(set(images))
    folders = [datasets.folder(DATASET, root) for root in roots]
    for folder in folders:
        if all((folder / name).is_file() for name in needed):
            expected = datasets.REGISTRY[DATASET].pixel_md5
            for name in needed:
                if datasets.pixel_md5(folder / name) != expected[name]:
                    raise UserError(f"{folder / name} is not the Kodak image {name} (pixel checksum differs)")
            return folder
    raise UserError(f"Kodak images {', '.join(needed)} not found in {' nor '.join(map(str, folders))}; "
                    f"pass --data-root or set SEGPIC_DATA (fetch: {datasets.fetch_command(DATASET, roots[0])})")


def learned_checkpoints(golden: Path, arch: str) -> List[str]:
    from .golden_weights import checkpoint_path

    paths = [checkpoint_path(golden / "checkpoints", arch, q) for q in LEARNED[arch]]
    for path in paths:
        if not path.is_file():
            raise UserError(f"checkpoint {path} not found; make the test weights with: "
                            f"python -m bench.golden_weights --out {path.parent}")
    return [str(p) for p in paths]


def code_golden_images(selection: Selection, kodak: Path, golden: Path, work: Path,
                       quiet: bool) -> Tuple[ResultTable, List[str]]:
    """Per-image rows of the selected codecs, coded as ``bench run`` does, in ``work``."""
    from .codecs import get_codec
    from .run import code_image, plan

    table = ResultTable(work / "per_image.csv")
    tasks = []
    for names, images in ((CLASSICAL, CLASSICAL_IMAGES), (LEARNED, LEARNED_IMAGES)):
        chosen = [n for n in names if n in selection.codecs]
        build = {n: get_codec(n, checkpoints=learned_checkpoints(golden, n)) if n in LEARNED else get_codec(n)
                 for n in chosen}
        tasks += plan(DATASET, [kodak / i for i in images], {n: names[n] for n in chosen}, table,
                      work / "streams", build)
    errors = []
    with tqdm(total=sum(len(t.qualities) for t in tasks), unit="code", desc="regress", disable=quiet,
              dynamic_ncols=True) as bar:
        for task in tasks:
            result = code_image(task)
            for row in result.rows:
                table.add(row)
            errors += result.errors
            bar.update(len(task.qualities))
    table.save()
    return table, errors


def curve_rows(per_image: Path) -> List[dict]:
    """The mean curves of a per-image results file, one row per point, in rate order."""
    from .curves import read_curve_file

    rows = []
    for curve in read_curve_file(per_image, kind="ours"):
        for point, values in enumerate(zip(curve.bpp, curve.psnr_rgb, curve.ms_ssim_rgb), start=1):
            rows.append(dict(dataset=curve.dataset, codec=curve.name, point=point,
                             bpp=number_text(values[0]), psnr_rgb=number_text(values[1]),
                             ms_ssim_rgb=number_text(values[2]), notes="; ".join(curve.notes)))
    return rows


def bdrate_rows(work: Path) -> List[dict]:
    """BD rows of the published curves against the anchor, as ``bench bdrate`` computes them."""
    from .curves import METRICS, CurveLibrary
    from .tables import ANCHORS_DIR, build_rows

    rows = []
    for dataset in BD_DATASETS:
        library = CurveLibrary(dataset, work / "no-results", ANCHORS_DIR)
        anchor = library.anchor(BD_ANCHOR)
        for metric in METRICS:
            if not anchor.points(metric)[0].size:
                continue
            for row in build_rows(library, anchor, metric, list(BD_METHODS)):
                rows.append(dict(dataset=dataset, metric=metric, anchor=BD_ANCHOR, codec=row.curve.name,
                                 method=row.method, bd_rate=number_text(row.bd_rate),
                                 bd_metric=number_text(row.bd_metric), overlap=number_text(row.overlap),
                                 flags="; ".join(row.flags)))
    return rows


def run_golden_set(selection: Selection, kodak: Optional[Path], golden: Path,
                   quiet: bool = False) -> Tuple[Dict[str, Records], List[str]]:
    """Recompute the selected part of the golden set: file name -> rows, and codec errors.

    Runs with one torch thread: the fastest here (MS-SSIM and the small models took three
    times the CPU time with two); learned codecs give the same streams and pixels with any.
    """
    # Before any tensor arithmetic in this process: pins ATen's kernels and MKL's mode (segpic).
    import segpic.codec  # noqa: F401
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run_golden_set(selection, kodak, golden, quiet)
    finally:
        torch.set_num_threads(threads)


def _run_golden_set(selection: Selection, kodak: Optional[Path], golden: Path,
                    quiet: bool) -> Tuple[Dict[str, Records], List[str]]:
    now: Dict[str, Records] = {}
    errors: List[str] = []
    with tempfile.TemporaryDirectory(prefix="segpic-regress-") as tmp:
        work = Path(tmp)
        if selection.codecs:
            table, errors = code_golden_images(selection, kodak, golden, work, quiet)
            rows = list(table.rows.values())
            now[CLASSICAL_FILE.name] = records(CLASSICAL_FILE, [r for r in rows if r["codec"] in CLASSICAL])
            now[LEARNED_FILE.name] = records(LEARNED_FILE, [r for r in rows if r["codec"] in LEARNED])
            now[CURVES_FILE.name] = records(CURVES_FILE, curve_rows(table.path) if rows else [])
        if selection.bdrate:
            now[BDRATE_FILE.name] = records(BDRATE_FILE, bdrate_rows(work))
    return now, errors


# --- the command ------------------------------------------------------------------------


def add_arguments(parser) -> None:
    parser.add_argument("--update", action="store_true", help="rewrite the golden files and print the diff")
    parser.add_argument("--golden", type=Path, default=DEFAULT_GOLDEN,
                        help=f"golden folder: the CSV files and checkpoints/ (default: {DEFAULT_GOLDEN})")
    parser.add_argument("--data-root", help="data folder holding kodak/ (default: $SEGPIC_DATA, "
                                            "~/.cache/segpic-bench/data, or shared/data beside the checkout)")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help=f"run only these parts ({', '.join(PARTS)}) or codecs")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _selected(spec: GoldenFile, rows: Records, selection: Selection) -> Records:
    return {k: r for k, r in rows.items() if selection.covers(spec, r)}


def _version_rule(spec: GoldenFile, changed: set) -> Callable[[Dict[str, str]], Sequence[str]]:
    """The columns not to compare in a row of ``spec``: those a changed version explains."""
    return lambda row: spec.explained_by_version if row["codec"] in changed else ()


def check(golden: Path, now: Dict[str, Records], selection: Selection) -> Tuple[List[Moved], List[str]]:
    """Compare the recomputed rows with the golden files: (what moved, notes)."""
    moved: List[Moved] = []
    notes: List[str] = []
    changed_classical: Dict[str, Tuple[str, str]] = {}
    for spec in FILES:
        if spec.name not in now:
            continue
        old = _selected(spec, read_golden(golden, spec), selection)
        if spec in (CLASSICAL_FILE, LEARNED_FILE):
            changes = version_changes(old, now[spec.name])
            for codec, (was, current) in changes.items():
                if spec is CLASSICAL_FILE:
                    notes.append(f"{codec}: version changed (golden: {was}; now: {current}); its bytes, bpp and "
                                 "metrics are not compared, its rows and image sizes are")
                else:
                    notes.append(f"{codec}: version string changed (golden: {was}; now: {current}); "
                                 "learned codecs are compared in full all the same")
            if spec is CLASSICAL_FILE:
                changed_classical = changes
        moved += compare(spec, old, now[spec.name], _version_rule(spec, set(changed_classical)))
    return moved, notes


def _settled(spec: GoldenFile, golden: Records, now: Records) -> Records:
    """``now`` with every value that is within its tolerance of the golden value written as
    the golden text: recording on another machine rewrites only what really moved (BD-rates
    differ in their 13th digit between CPU families, and would otherwise all change)."""
    out = {}
    for key, row in now.items():
        old = golden.get(key)
        if old is None:
            out[key] = row
            continue
        out[key] = {c: old[c] if spec.tolerances.get(c, EXACT) is not EXACT and c in old
                    and difference(old[c], v, spec.tolerances[c]) is None else v for c, v in row.items()}
    return out


def update(golden: Path, now: Dict[str, Records], selection: Selection) -> None:
    """Rewrite the golden files (the selected rows; others kept; values within tolerance keep
    their recorded text), record the machine, and print the diff."""
    golden.mkdir(parents=True, exist_ok=True)
    for spec in FILES:
        if spec.name not in now:
            continue
        path = golden / spec.name
        old_text = path.read_text() if path.is_file() else ""
        kept = {}
        if old_text:
            kept = {k: r for k, r in read_golden(golden, spec).items() if not selection.covers(spec, r)}
        new_text = to_csv(spec, {**kept, **_settled(spec, read_golden(golden, spec) if old_text else {}, now[spec.name])})
        if new_text == old_text:
            print(f"{path}: unchanged")
            continue
        atomic_write(path, new_text)
        diff = difflib.unified_diff(old_text.splitlines(keepends=True), new_text.splitlines(keepends=True),
                                    f"{path} (old)", f"{path} (new)", n=0)
        sys.stdout.writelines(diff)
    # the golden set is always computed with one torch thread (run_golden_set)
    atomic_write(golden / MACHINE_FILE, json.dumps({**machine(), "threads": "1"}, indent=2) + "\n")


def recorded_machine(golden: Path) -> str:
    """The recording machine of the golden set, in one line ("unknown" when not recorded)."""
    try:
        return describe(json.loads((golden / MACHINE_FILE).read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return "unknown"


def main(args) -> int:
    started = time.monotonic()
    selection = Selection.parse(args.only)
    golden = Path(args.golden)
    if not args.update and not golden.is_dir():
        raise UserError(f"golden folder {golden} not found; create it with: python -m bench regress --update")
    kodak = kodak_folder(args.data_root, selection.images()) if selection.codecs else None
    now, errors = run_golden_set(selection, kodak, golden, args.quiet)
    for line in errors:
        print(f"warning: {line}", file=sys.stderr)
    if args.update:
        if errors:
            raise UserError(f"{len(errors)} coding(s) failed (see the warnings); golden files left as they were")
        update(golden, now, selection)
        print(f"note: the golden streams in {golden / 'streams'} are kept as recorded (they must decode alike "
              "on every machine); re-record them only for an intended change: python -m bench.golden_streams --record")
        return 0
    moved, notes = check(golden, now, selection)
    streams = golden / "streams"
    if set(selection.codecs) & set(LEARNED) and streams.is_dir():
        kodak = kodak_folder(args.data_root, golden_streams.IMAGES)
        for name, what in golden_streams.check(kodak, streams, golden / "checkpoints"):
            moved.append(Moved(f"streams/{name}", "recorded", "differs", what, "exact"))
    for line in notes:
        print(f"note: {line}", file=sys.stderr)
    counts = ", ".join(f"{len(rows)} rows of {name}" for name, rows in now.items())
    elapsed = time.monotonic() - started
    if moved:
        print(tabulate([(m.what, m.golden, m.now, m.difference, m.tolerance) for m in moved],
                       headers=("what moved", "golden", "now", "difference", "tolerance"), disable_numparse=True))
        print(f"golden set recorded on: {recorded_machine(golden)}\nthis machine:           {describe()}")
        print(f"regression: {len(moved)} value(s) differ from {golden} ({counts} recomputed in {elapsed:.0f} s); "
              "if the change is intended, record it with: python -m bench regress --update", file=sys.stderr)
        return 1
    print(f"golden set reproduced: {counts} match {golden} ({elapsed:.0f} s)")
    return 0
