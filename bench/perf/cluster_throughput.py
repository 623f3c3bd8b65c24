"""Wall-clock benchmark: ``bench run --jobs 2`` against ``--cluster local:N`` on the same work.

Not a test.  One invocation runs, one after the other on this machine, each as a fresh
``python -m bench run`` process with its own empty output folder, the same work (default:
jpeg, webp and avif at three qualities each on all 24 Kodak images) with:

1. ``--jobs 2`` and ``--cluster local:2`` side by side: the overhead of the cluster path
   (starting a Dask scheduler and two worker processes, shipping each image to a worker
   and each bitstream back, writing it on the client);
2. ``--cluster local:1``, ``local:2``, ``local:4``: a simulated scale-out.  On a machine
   with C cores, N > C workers share the cores, so this shows the cost of the cluster path
   per task and whether it scales up to C workers, not what N machines would give.

Each configuration also codes one image once (jpeg, quality 50): that run's time is the
configuration's fixed cost (process start, imports in the client and in every worker,
starting and closing the cluster), and the rest of the work's time is what it took to code.  Every run must give the same rows (bytes and metrics)
as the first, which the script checks.  ``--threads 1`` everywhere: the classical encoders
are single-threaded and only the MS-SSIM metric uses torch.

    nice -n 10 python -m bench.perf.cluster_throughput --data-root ../shared/data \\
        --out results/perf/cluster_throughput.json
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from bench.datasets import data_root, resolve
from bench.results import atomic_write

CONFIGS = (("--jobs 2", ["--jobs", "2"]), ("--cluster local:2", ["--cluster", "local:2"]),
           ("--cluster local:1", ["--cluster", "local:1"]), ("--cluster local:4", ["--cluster", "local:4"]))
DEFAULT_WORK = ["jpeg=20,50,80", "webp=20,50,80", "avif=30,45,60"]


def run(cmd) -> float:
    """Wall-clock seconds of ``cmd``; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(map(str, cmd))} failed:\n{proc.stderr[-2000:]}")
    return seconds


def coded(csv_path: Path) -> dict:
    """(image, codec, quality) -> the row without its timings."""
    with open(csv_path, newline="") as f:
        return {(r["image"], r["codec"], r["quality"]): {k: v for k, v in r.items() if not k.endswith("_s")}
                for r in csv.DictReader(f)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", help="data folder (default: $SEGPIC_DATA or ~/.cache/segpic-bench/data)")
    parser.add_argument("--dataset", default="kodak")
    parser.add_argument("--qualities", nargs="+", default=DEFAULT_WORK, metavar="CODEC=Q1,Q2",
                        help=f"the work (default: {' '.join(DEFAULT_WORK)})")
    parser.add_argument("--out", type=Path, help="also write the results here as JSON")
    args = parser.parse_args(argv)
    root = data_root(args.data_root)
    name, images = resolve(args.dataset, root)
    models = [q.split("=", 1)[0] for q in args.qualities]
    codings = len(images) * sum(len(q.split("=", 1)[1].split(",")) for q in args.qualities)
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="cluster_throughput."))
    one = work / "one"
    one.mkdir()
    shutil.copy(images[0], one / images[0].name)
    measured, reference = [], None
    try:
        for i, (label, options) in enumerate(CONFIGS):
            out = work / str(i)
            common = [sys.executable, "-m", "bench", "run", "--threads", "1", "--quiet", *options]
            seconds = run(common + ["--models", *models, "--qualities", *args.qualities, "--dataset", args.dataset,
                                    "--data-root", str(root), "--out", str(out)])
            fixed = run(common + ["--models", "jpeg", "--qualities", "50", "--dataset", str(one),
                                  "--out", str(work / f"one{i}")])
            rows = coded(out / name / "default" / "per_image.csv")
            if len(rows) != codings:
                sys.exit(f"error: {label} gave {len(rows)} rows, expected {codings}")
            reference = reference or rows
            if rows != reference:
                sys.exit(f"error: {label} gave other rows than {CONFIGS[0][0]}")
            measured.append(dict(config=label, seconds=round(seconds, 1), fixed_seconds=round(fixed, 1),
                                 codings_per_s=round(codings / seconds, 2),
                                 codings_per_s_after_start=round((codings - 1) / max(seconds - fixed, 1e-9), 2)))
            print(measured[-1], file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = measured[0]["seconds"]
    for m in measured:
        m["vs_jobs_2"] = round(m["seconds"] / base, 3)
    document = dict(
        work=f"{' '.join(args.qualities)} on {name} ({len(images)} images): {codings} codings",
        machine=f"{len(os.sched_getaffinity(0))} cores ({os.uname().machine})",
        load_average_before=[round(x, 2) for x in load_before],
        load_average_after=[round(x, 2) for x in os.getloadavg()],
        note="wall-clock seconds, each a fresh `python -m bench run` process with --threads 1; fixed_seconds: "
             "the same configuration coding one image once (jpeg q50); codings_per_s_after_start: "
             "(codings - 1) / (seconds - fixed_seconds); all configurations gave identical rows",
        results=measured,
    )
    print(f"{document['work']}; {document['machine']}; load average {load_before[0]:.1f} before, "
          f"{document['load_average_after'][0]:.1f} after")
    print(tabulate([(m["config"], m["seconds"], m["fixed_seconds"], m["codings_per_s"],
                     m["codings_per_s_after_start"], m["vs_jobs_2"]) for m in measured],
                   headers=("configuration", "wall s", "fixed s", "codings/s", "codings/s after start",
                            "time vs --jobs 2")))
    if args.out:
        atomic_write(args.out, json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
