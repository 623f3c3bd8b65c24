"""``python -m bench metrics``: add metric columns to a result set from its stored bitstreams.

    python -m bench metrics --dataset kodak --metrics vmaf vif ... [--results runs] [--label default]
        [--codecs NAME ...] [--recreate-streams] [--jobs N]

For every row of ``<results>/<dataset>/<label>/per_image.csv`` that lacks one of the chosen
metrics, the stream that ``bench run`` stored (``<results>/<dataset>/streams/<label>/<codec>/
q<quality>/<image><ext>``) is decoded, and the metrics are computed against the original;
nothing is re-encoded.  A stream is trusted only if it reproduces its row: its size must equal
the recorded ``bytes`` and the decoded image's PSNR-RGB the recorded ``psnr_rgb`` (to the 6
decimals written), otherwise the row is left as it was and reported.  Rows are saved atomically
every few seconds, so an interrupted run resumes where it stopped; the codecs' JSON files are
rewritten at the end.

Result sets committed in ``results/`` do not carry their streams (``.gitignore``).  Then the
command stops with one line, before measuring anything, unless ``--recreate-streams`` is given:
each missing stream is encoded again by the codec of the row's recorded identity (codec version,
checkpoint, device: a codec installed here in another version refuses the row) at the row's
quality, and kept only if its byte count and PSNR-RGB equal the record exactly (classical codecs
are deterministic); a row whose re-created stream differs is refused, never measured on a stream
that is not the one recorded.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from bench import datasets
from bench.errors import UserError
from bench.metrics import columns_of, compute, parse, psnr_rgb

Key = Tuple[str, str, str]


@dataclass(frozen=True)
class Job:
    """The rows of one image and codec to measure: (key, codec name, recorded row) each."""

    image: Path
    rows: Tuple[Tuple[Key, str, Dict[str, str]], ...]
    streams: Path
    metrics: Tuple[str, ...]
    recreate: bool


@dataclass
class Outcome:
    """What a job sends back: new metric values per row key, and refusals."""

    values: Dict[Key, Dict[str, float]] = field(default_factory=dict)
    errors: List[str] = field(default_factory=list)
    recreated: int = 0


def _codec(name: str, cache: Dict[str, object]):
    from bench.codecs import get_codec

    if name not in cache:
        cache[name] = get_codec(name)
    return cache[name]


def _reproduces(row: Dict[str, str], path: Path, original, decoded) -> str:
    """Why the stream at ``path`` and its decoding do not reproduce ``row``, or ``""``."""
    from bench.results import format_value

    size = path.stat().st_size
    psnr = format_value("psnr_rgb", psnr_rgb(original, decoded))
    if size != int(row["bytes"]) or psnr != row["psnr_rgb"]:
        return (f"{size} bytes, PSNR-RGB {psnr} dB against the recorded {row['bytes']} bytes, "
                f"{row['psnr_rgb']} dB")
    return ""


def measure_job(job: Job) -> Outcome:
    """Decode (re-creating where asked) and measure the rows of one job (in a worker)."""
    from bench.images import ImageReadError, load_rgb
    from bench.results import format_value
    from bench.run import stream_path

    outcome = Outcome()
    try:
        original = load_rgb(job.image).rgb
    except ImageReadError as err:
        outcome.errors.append(f"skipped {err}")
        return outcome
    metrics = parse(job.metrics)
    codecs: Dict[str, object] = {}
    for key, name, row in job.rows:
        where = f"{name} q={row['quality']} {job.image.name}"
        try:
            codec = _codec(name, codecs)
            quality = codec.parse_quality(row["quality"])
            path = stream_path(job.streams, codec, quality, job.image)
            if not path.is_file():
                identity = {c: format_value(c, v) for c, v in codec.identity(quality).items()}
                differs = [f"{c} {row.get(c)!r} (here {v!r})" for c, v in identity.items() if row.get(c) != v]
                if differs:
                    outcome.errors.append(f"{where}: not re-created, recorded with another codec: {', '.join(differs)}")
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                fresh = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                codec.prepare(quality)
                codec.encode(original, quality, fresh)
                decoded = codec.decode(fresh)
                reason = _reproduces(row, fresh, original, decoded)
                if reason:
                    fresh.unlink()
                    outcome.errors.append(f"{where}: re-created stream differs from the record ({reason}); refused")
                    continue
                os.replace(fresh, path)
                outcome.recreated += 1
            else:
                codec.prepare(quality)
                decoded = codec.decode(path)
                reason = _reproduces(row, path, original, decoded)
                if reason:
                    outcome.errors.append(f"{where}: stored stream does not reproduce the row ({reason}); refused")
                    continue
            values, _ = compute(original, decoded, [m for m in metrics if not all(c in row for c in m.columns)])
        except Exception as err:  # one failing row must not stop the others
            outcome.errors.append(f"{where}: {type(err).__name__}: {err}")
            continue
        outcome.values[key] = values
    return outcome


def plan(table, images: Dict[str, Path], streams: Path, metrics: Sequence[str], codecs: Optional[Sequence[str]],
         recreate: bool) -> Tuple[List[Job], List[Key], List[str]]:
    """(jobs, rows whose stream is missing, rows whose image is not in the dataset); one job per
    image and codec, codec by codec."""
    from bench.codecs import CodecError
    from bench.run import stream_path

    wanted = columns_of(parse(metrics))
    groups: Dict[Tuple[str, str], list] = {}
    missing, unknown = [], []
    built: Dict[str, object] = {}
    for key, row in sorted(table.rows.items()):
        image, name, quality = key
        if codecs and name not in codecs:
            continue
        if all(c in row for c in wanted):
            continue
        if image not in images:
            unknown.append(f"{name} q={quality} {image}")
            continue
        try:
            codec = _codec(name, built)
        except (CodecError, TypeError) as err:
            raise UserError(f"codec '{name}' cannot be built here to decode its streams: {err}") from None
        if not stream_path(streams, codec, codec.parse_quality(quality), images[image]).is_file():
            missing.append(key)
        groups.setdefault((name, image), []).append((key, name, dict(row)))
    jobs = [Job(images[i], tuple(rows), streams, tuple(metrics), recreate) for (_, i), rows in sorted(groups.items())]
    return jobs, missing, unknown


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", default="kodak", help="registered dataset name or a folder of images (default: kodak)")
    parser.add_argument("--data-root", help="data folder (default: $SEGPIC_DATA or ~/.cache/segpic-bench/data)")
    parser.add_argument("--metrics", nargs="+", required=True, metavar="METRIC",
                        help="metrics to add (README: Metrics), or all")
    parser.add_argument("--results", type=Path, default=Path("runs"),
                        help="results folder that bench run wrote (--out; default runs; 'results' for the committed sets)")
    parser.add_argument("--label", default="default", help="result set (default: default)")
    parser.add_argument("--codecs", nargs="+", metavar="NAME", help="only the rows of these codecs")
    parser.add_argument("--recreate-streams", action="store_true",
                        help="encode missing streams again with the recorded codec and quality; rows whose "
                             "stream then differs in bytes or PSNR-RGB from the record are refused")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    parser.add_argument("--save-every", type=float, default=5.0, metavar="SECONDS",
                        help="save finished rows at most this often (default: 5)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args) -> int:
    from bench.results import ResultTable, result_dir, stream_dir
    from bench.run import make_executor

    try:
        metrics = tuple(m.name for m in parse(args.metrics))
    except ValueError as err:
        raise UserError(f"--metrics: {err}") from None
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    dataset, images = datasets.resolve(args.dataset, datasets.data_root(args.data_root))
    path = result_dir(args.results, dataset, args.label) / "per_image.csv"
    if not path.is_file():
        raise UserError(f"no results at {path} (bench run --out {args.results} --label {args.label} writes them)")
    table = ResultTable(path)
    streams = stream_dir(args.results, dataset, args.label)
    jobs, missing, unknown = plan(table, {p.name: p for p in images}, streams, metrics, args.codecs,
                                  args.recreate_streams)
    if unknown:
        raise UserError(f"{len(unknown)} rows name images that {dataset} lacks (first: {unknown[0]})")
    todo = sum(len(j.rows) for j in jobs)
    if missing and not args.recreate_streams:
        raise UserError(f"{len(missing)} of {todo} rows to measure have no stream under {streams} (result sets in "
                        "results/ do not commit theirs); --recreate-streams encodes them again and keeps only "
                        "rows whose bytes and PSNR-RGB match the record")
    print(f"{dataset}: {todo} rows of {path} to measure ({', '.join(metrics)}); "
          f"{len(missing)} streams to re-create", file=sys.stderr)
    executor = make_executor(args.jobs, 1)
    errors: List[str] = []
    touched = set()
    last = time.monotonic()
    try:
        with tqdm(total=todo, unit="row", desc="bench metrics", disable=args.quiet, dynamic_ncols=True) as bar:
            for outcome, job in zip(executor.map(measure_job, jobs), jobs):
                for key, values in outcome.values.items():
                    table.set_metrics(key, values)
                    touched.add(key[1])
                for line in outcome.errors:
                    tqdm.write(f"warning: {line}", file=sys.stderr)
                errors += outcome.errors
                bar.update(len(job.rows))
                if time.monotonic() - last >= args.save_every:
                    table.save()
                    last = time.monotonic()
    except KeyboardInterrupt:
        table.save()
        print(f"\ninterrupted: rows measured so far are saved in {path}; run the same command to resume",
              file=sys.stderr)
        return 130
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
    table.save()
    for codec in sorted(touched):
        table.write_json(codec, dataset, args.label)
    print(f"added {', '.join(metrics)} to {todo - len(errors)} rows of {path}")
    if errors:
        print(f"error: {len(errors)} rows refused or failed; see the warnings above", file=sys.stderr)
        return 1
    return 0
