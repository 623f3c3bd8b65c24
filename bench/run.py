"""``python -m bench run``: code every image of a dataset with every codec and quality.

Work is split into tasks (one image, one codec, one or more qualities) that run through
any ``concurrent.futures.Executor``: in this process for ``--jobs 1``, a local process
pool otherwise, a Dask cluster for ``--cluster`` (:mod:`bench.cluster`); another
engine's executor can be passed to :func:`main` or :func:`execute` instead.  For each
quality a task writes the bitstream file, decodes it from that file in a separate timed
call, and measures the decoded RGB against the original (PSNR-RGB and MS-SSIM-RGB, and the
metrics added with ``--metrics``: :mod:`bench.metrics`).  Finished rows are saved
atomically every few seconds and at the end, so a run that is killed and started again
only computes what the results file lacks (or holds from another codec version or kind
of device).
"""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from tqdm import tqdm

from segpic.devices import DeviceUnavailable, parse_device, require as require_device
from segpic.limits import MAX_PIXELS

from . import datasets
from .codecs import Codec, accepted_options, available, get_codec
from .codecs.vtm import ANCHOR_INPUT_BITS
from .errors import UserError
from .images import ImageReadError, load_rgb
from .lifeline import die_with_parent
from . import metrics as quality_metrics
from .provenance import describe
from .results import ResultTable, format_value, result_dir, stream_dir


@dataclass(frozen=True)
class Task:
    """Code one image with one codec at the given qualities."""

    dataset: str
    image: Path
    codec: Codec
    qualities: tuple
    streams: Path
    max_pixels: int = MAX_PIXELS
    metrics: tuple = quality_metrics.DEFAULT


@dataclass
class TaskResult:
    """What a task sends back: finished rows, notes to show, failures to report."""

    task: Task
    rows: List[dict] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    unreadable: bool = False


def stream_path(streams: Path, codec: Codec, quality, image: Path) -> Path:
    return streams / codec.name / f"q{quality}" / (image.stem + codec.extension)


def code_image(task: Task) -> TaskResult:
    """Run one task (in a worker).  Codec failures are caught per quality and reported."""
    result = TaskResult(task)
    try:
        loaded = load_rgb(task.image, task.max_pixels)
    except ImageReadError as err:
        result.errors.append(f"skipped {err}")
        result.unreadable = True
        return result
    if loaded.note:
        result.notes.append(f"{task.image.name}: {loaded.note}")
    rgb = loaded.rgb
    height, width = rgb.shape[:2]
    codec = task.codec
    chosen = quality_metrics.parse(task.metrics)
    for quality in task.qualities:
        path = stream_path(task.streams, codec, quality, task.image)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            codec.prepare(quality)
            start = time.perf_counter()
            codec.encode(rgb, quality, path)
            encode_s = time.perf_counter() - start
            start = time.perf_counter()
            decoded = codec.decode(path)
            decode_s = time.perf_counter() - start
            values, notes = quality_metrics.compute(rgb, decoded, chosen)
        except Exception as err:  # a codec failing on one input must not stop the run
            result.errors.append(f"{codec.name} q={quality} failed on {task.image.name}: {type(err).__name__}: {err}")
            continue
        result.notes += [f"{task.image.name}: {note}" for note in notes]
        size = path.stat().st_size
        result.rows.append(
            dict(
                dataset=task.dataset, image=task.image.name, width=width, height=height, codec=codec.name,
                quality=quality, bytes=size, bpp=size * 8.0 / (width * height), **values,
                encode_s=encode_s, decode_s=decode_s, machine=describe(), **codec.identity(quality),
            )
        )
    return result


class InlineExecutor(Executor):
    """Runs each task at submission, in this process (``--jobs 1``)."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:
            future.set_exception(err)
            if isinstance(err, KeyboardInterrupt):
                raise
        return future


def _set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _worker_init(threads: int) -> None:
    """A pool worker: ends with the parent (a killed run leaves no orphans), ``threads`` torch threads."""
    die_with_parent()
    _set_threads(threads)


def default_threads(jobs: int) -> int:
    """Torch threads per worker that share this machine's cores among ``jobs`` workers."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // jobs)


def make_executor(jobs: int, threads: int) -> Executor:
    """This process for one job, else a pool of ``jobs`` processes; ``threads`` torch threads each."""
    _set_threads(threads)  # also imports torch here, once, for the forked workers to inherit
    if jobs == 1:
        return InlineExecutor()
    return ProcessPoolExecutor(jobs, initializer=_worker_init, initargs=(threads,))


def plan(dataset: str, images: Sequence[Path], codecs: Dict[str, tuple], table: ResultTable, streams: Path,
         build: Dict[str, Codec], max_pixels: int = MAX_PIXELS, metrics: tuple = quality_metrics.DEFAULT) -> List[Task]:
    """The tasks still to do: (image, codec, quality) keys missing from ``table``, or
    recorded there by something else (:meth:`Codec.identity`: another codec version, e.g. after
    a library upgrade, or another checkpoint); those rows are replaced when recoded.

    Codecs that can code all qualities of an image in one task get one task per image
    (the image is read once); codecs with a model per quality get one task per
    (quality, image), quality-major, so that a worker keeps one model loaded.  Rows already
    done are not recoded for the ``metrics`` they lack: ``bench metrics`` adds those from the streams.
    """
    tasks = []
    for name, qualities in codecs.items():
        codec = build[name]
        identity = {q: {c: format_value(c, v) for c, v in codec.identity(q).items()} for q in qualities}

        def done(image: Path, quality) -> bool:
            row = table.rows.get((image.name, name, str(quality)))
            return row is not None and all(row.get(c) == v for c, v in identity[quality].items())

        missing = {img: tuple(q for q in qualities if not done(img, q)) for img in images}
        if codec.group_qualities:
            tasks += [Task(dataset, img, codec, qs, streams, max_pixels, metrics) for img, qs in missing.items() if qs]
        else:
            tasks += [Task(dataset, img, codec, (q,), streams, max_pixels, metrics)
                      for q in qualities for img in images if q in missing[img]]
    return tasks


def execute(tasks: Sequence[Task], executor: Executor, table: ResultTable, window: int = 4,
            save_every: float = 2.0, quiet: bool = False) -> List[TaskResult]:
    """Run ``tasks`` through ``executor``, adding rows to ``table`` and saving it as they come.

    At most ``window`` tasks are in flight, so results are saved (at most every
    ``save_every`` seconds) while the run goes on whatever the executor.  Returns the task
    results that carried errors.
    """
    failures = []
    total = sum(len(t.qualities) for t in tasks)
    queue = iter(tasks)
    pending = set()
    shown = set()
    last_save = time.monotonic()
    with tqdm(total=total, unit="code", desc="bench run", disable=quiet, dynamic_ncols=True) as bar:
        try:
            while True:
                for task in queue:
                    pending.add(executor.submit(code_image, task))
                    if len(pending) >= window:
                        break
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    result = future.result()
                    for row in result.rows:
                        table.add(row)
                    for line in [f"note: {n}" for n in result.notes] + [f"warning: {e}" for e in result.errors]:
                        if line not in shown:  # e.g. one conversion note per image, not per codec
                            shown.add(line)
                            tqdm.write(line, file=sys.stderr)
                    if result.errors:
                        failures.append(result)
                    bar.update(len(result.task.qualities))
                if time.monotonic() - last_save >= save_every:
                    table.save()
                    last_save = time.monotonic()
        finally:
            for future in pending:
                future.cancel()
            table.save()
    return failures


def parse_qualities(tokens: Optional[Sequence[str]], build: Dict[str, Codec]) -> Dict[str, tuple]:
    """``--qualities``: plain tokens apply to every codec, ``NAME=q1,q2`` to one codec."""
    chosen = {name: tuple(codec.default_qualities) for name, codec in build.items()}
    common = [t for t in tokens or () if "=" not in t]
    for name, codec in build.items():
        if common:
            chosen[name] = tuple(codec.parse_quality(t) for t in common)
    for token in tokens or ():
        if "=" in token:
            name, values = token.split("=", 1)
            if name not in build:
                raise UserError(f"--qualities {token}: codec '{name}' is not among --models")
            chosen[name] = tuple(build[name].parse_quality(v) for v in values.split(",") if v)
    for name, qualities in chosen.items():
        if not qualities:
            raise UserError(f"no qualities for codec '{name}'; give --qualities {name}=Q1,Q2,...")
    return chosen


def parse_checkpoints(tokens: Optional[Sequence[str]]) -> Dict[str, List[str]]:
    """``--checkpoint NAME=a.pth,b.pth``: one checkpoint per rate point, per codec."""
    chosen: Dict[str, List[str]] = {}
    for token in tokens or ():
        if "=" not in token:
            raise UserError(f"--checkpoint {token}: expected NAME=PATH[,PATH...]")
        name, paths = token.split("=", 1)
        chosen.setdefault(name, []).extend(p for p in paths.split(",") if p)
    return chosen


#: Command-line options handed to every codec whose constructor takes a keyword of that name.
CODEC_OPTIONS = ("vtm_dir", "vtm_cfg", "vtm_input_bits", "vvenc_preset", "trust_checkpoint", "device")


def codec_options(name: str, args, checkpoints: Dict[str, List[str]]) -> dict:
    """The constructor keywords of codec ``name``: its checkpoints, and the codec options given."""
    accepted = accepted_options(name)
    options = {key: getattr(args, key) for key in CODEC_OPTIONS if key in accepted and getattr(args, key, None) is not None}
    if name in checkpoints:
        options["checkpoints"] = checkpoints[name]
    return options


def summary(table: ResultTable, codecs: Sequence[str]) -> str:
    from tabulate import tabulate

    rows = []
    for name in codecs:
        for p in table.curve(name):
            rows.append((name, p["quality"], p["images"], p["bpp"], p["psnr_rgb"], p["ms_ssim_rgb"], p["ms_ssim_db"],
                         p["encode_s"], p["decode_s"]))
    headers = ("codec", "quality", "images", "bpp", "PSNR-RGB dB", "MS-SSIM", "MS-SSIM dB", "enc s", "dec s")
    return tabulate(rows, headers=headers, floatfmt=("", "", "", ".4f", ".3f", ".5f", ".3f", ".4f", ".4f"))


def add_arguments(parser) -> None:
    parser.add_argument("--models", nargs="+", required=True, metavar="CODEC", help=f"codecs: {', '.join(available())}")
    parser.add_argument("--dataset", default="kodak", help="registered dataset name or a folder of images (default: kodak)")
    parser.add_argument("--data-root", help="data folder (default: $SEGPIC_DATA or ~/.cache/segpic-bench/data)")
    parser.add_argument("--qualities", nargs="+", metavar="Q", help="qualities for every codec, or NAME=Q1,Q2 for one")
    parser.add_argument("--checkpoint", action="append", metavar="NAME=PATH[,PATH...]",
                        help="learned codecs: one checkpoint per rate point (quality i uses the i-th)")
    parser.add_argument("--trust-checkpoint", action="store_true",
                        help="load checkpoints with full pickle, which can run any code they contain; only for files "
                             "from a source you trust (default: tensors and plain training metadata only)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel worker processes (default: 1)")
    parser.add_argument("--threads", type=int, help="torch threads per worker (default: CPU cores / jobs)")
    parser.add_argument("--cluster", metavar="local:N|tcp://HOST:PORT",
                        help="run the tasks on a Dask cluster: N local worker processes, or a running scheduler "
                             "(needs the 'cluster' extra; see README)")
    parser.add_argument("--device", default="cpu", type=parse_device, metavar="cpu|cuda|cuda:N",
                        help="learned codecs: torch device (default: cpu); rows record it")
    parser.add_argument("--out", default="runs",
                        help="output folder (default: runs/, ignored by git; results/ holds the committed result sets)")
    parser.add_argument("--label", default="default", help="name of this result set, e.g. a training run (default: default)")
    parser.add_argument("--save-every", type=float, default=2.0, metavar="SECONDS",
                        help="save finished rows at most this often (default: 2; 0: after every task)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--max-pixels", type=int, default=MAX_PIXELS, metavar="N",
                        help=f"skip images larger than N pixels, read from the header before decoding "
                             f"(default: {MAX_PIXELS:,}, segpic.limits.MAX_PIXELS, the codec's own limit)")
    parser.add_argument("--metrics", nargs="+", metavar="METRIC",
                        help=f"quality metrics besides {' and '.join(quality_metrics.DEFAULT)} (always computed): "
                             f"{', '.join(quality_metrics.REGISTRY)}, or all (README: Metrics)")
    vvc = parser.add_argument_group("VVC codecs")
    vvc.add_argument("--vtm-dir", help="vtm: VTM tree with bin/EncoderAppStatic, bin/DecoderAppStatic (default: $VTM_DIR)")
    vvc.add_argument("--vtm-cfg", help="vtm: encoder config (default: <vtm-dir>/cfg/encoder_intra_vtm.cfg)")
    vvc.add_argument("--vtm-input-bits", type=int, choices=(8, 10),
                     help=f"vtm: YCbCr input bit depth (default {ANCHOR_INPUT_BITS}, as the vtm17 Kodak anchor; "
                          "recorded in codec_version)")
    vvc.add_argument("--vvenc-preset", help="vvenc: VVenC preset (default: medium)")


def main(args, executor: Optional[Executor] = None) -> int:
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.threads is not None and args.threads < 1:
        raise UserError("--threads must be at least 1")
    if args.cluster and args.jobs != 1:
        raise UserError("--jobs and --cluster: give one (a cluster's parallelism is its workers')")
    if args.max_pixels < 1:
        raise UserError("--max-pixels must be at least 1")
    if not args.label or any(c in args.label for c in "/\\") or args.label.startswith("."):
        raise UserError(f"--label '{args.label}': use a plain name without slashes")
    try:
        metrics = tuple(m.name for m in quality_metrics.parse(quality_metrics.DEFAULT + tuple(args.metrics or ())))
    except ValueError as err:
        raise UserError(f"--metrics: {err}") from None
    root = datasets.data_root(args.data_root)
    dataset, images = datasets.resolve(args.dataset, root)
    checkpoints = parse_checkpoints(args.checkpoint)
    unknown = set(checkpoints) - set(args.models)
    if unknown:
        raise UserError(f"--checkpoint given for {', '.join(sorted(unknown))}, which is not among --models")
    build = {}
    for name in dict.fromkeys(args.models):
        build[name] = get_codec(name, **codec_options(name, args, checkpoints))
    qualities = parse_qualities(args.qualities, build)

    out = Path(args.out)
    table = ResultTable(result_dir(out, dataset, args.label) / "per_image.csv")
    tasks = plan(dataset, images, qualities, table, stream_dir(out, dataset, args.label), build,
                 args.max_pixels, metrics)
    todo = sum(len(t.qualities) for t in tasks)
    done_before = sum(len(qs) for qs in qualities.values()) * len(images) - todo
    stale = sum((t.image.name, t.codec.name, str(q)) in table for t in tasks for q in t.qualities)
    replaced = f"; {stale} recorded there by another codec version or checkpoint will be replaced" if stale else ""
    own = executor is None
    try:
        if own and args.cluster:
            from .cluster import connect

            executor = connect(args.cluster, args.threads, args.device)
        elif args.device != "cpu":
            require_device(args.device)
    except DeviceUnavailable as err:  # the machine lacks what was asked for: exit 1, as segpic does
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{dataset}: {len(images)} images x {len(build)} codecs; {todo} to code, {done_before} already in "
          f"{table.path}{replaced}", file=sys.stderr)
    recoded = {(t.image.name, t.codec.name, str(q)) for t in tasks for q in t.qualities}
    wanted = quality_metrics.columns_of(quality_metrics.parse(metrics))
    lacking = sum(1 for key, row in table.rows.items()
                  if key[1] in build and key not in recoded and any(c not in row for c in wanted))
    if lacking:
        print(f"note: {lacking} rows already there lack some of {', '.join(metrics)}; they are not recoded: "
              f"python -m bench metrics --dataset {args.dataset} --results {args.out} --label {args.label} "
              f"--metrics {' '.join(metrics)} adds them from the stored streams", file=sys.stderr)
    executor = executor or make_executor(args.jobs, args.threads or default_threads(args.jobs))
    window = getattr(executor, "window", 2 * args.jobs)
    try:
        failures = execute(tasks, executor, table, window=window, save_every=args.save_every, quiet=args.quiet)
    except KeyboardInterrupt:
        if own:
            executor.shutdown(wait=False, cancel_futures=True)
        print(f"\ninterrupted: {len(table)} rows saved in {table.path}; run the same command to resume",
              file=sys.stderr)
        return 130
    if own:
        executor.shutdown(wait=True)
    for name in build:
        if table.curve(name):
            table.write_json(name, dataset, args.label)
    print(summary(table, list(build)))
    print(f"per-image results: {table.path}")
    codec_failures = [r for r in failures if not r.unreadable]
    if codec_failures:
        print(f"error: {len(codec_failures)} task(s) failed; see the warnings above", file=sys.stderr)
        return 1
    return 0
