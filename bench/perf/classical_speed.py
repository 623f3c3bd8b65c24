"""Wall-clock benchmark: ``bench run`` on the classical codecs against CompressAI's bench.

Not a test.  One invocation runs, one after the other on this machine, each as a fresh
process with its own empty output folder:

1. ``python -m bench run`` with every classical codec at its default qualities, ``--jobs 1``
   then ``--jobs 2`` (all of Kodak: 24 images x 6 codecs x 6 qualities);
2. the work CompressAI's bench can also do: ``jpeg`` and ``webp`` (both via Pillow, so
   the same encoder and the same quality scale) at our default qualities, by
   ``python -m bench run --models jpeg webp`` and by ``python -m compressai.utils.bench
   {jpeg,webp} DIR -q ...``, each with 1 and 2 jobs.  CompressAI's JPEG2000 runs an
   ``ffmpeg`` binary with a different quality knob, and it has no AVIF, JPEG XL or HEIC
   module, so only jpeg and webp are shared.

``bench run`` is given ``--threads 1``: the classical encoders are single-threaded and
only the MS-SSIM metric uses torch, and on a busy shared machine more than one OpenMP
thread per process loses far more to oversubscription than it gains.  CompressAI's bench
has no such option and runs with torch's default threads in every process.

Both tools code each image, decode it and compute PSNR-RGB and MS-SSIM-RGB with
pytorch-msssim; ``bench run`` also writes every bitstream, the per-image CSV and the
JSON files.  The mean bpp of the two tools must agree (same Pillow encoder): the script
checks it, so the comparison is of the same work.

    python -m bench.perf.classical_speed --data-root ../shared/data
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tabulate import tabulate

from bench.codecs import get_codec
from bench.datasets import data_root, resolve
from bench.results import load_json

CLASSICAL = ("jpeg", "webp", "jpeg2000", "avif", "jpegxl", "heic")
SHARED = ("jpeg", "webp")


def timed(cmd, **kwargs) -> tuple:
    """Run ``cmd``; return (wall-clock seconds, stdout).  Fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"error: {' '.join(map(str, cmd))} failed:\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def ours(models, dataset, root, jobs, out) -> float:
    cmd = [sys.executable, "-m", "bench", "run", "--models", *models, "--dataset", dataset,
           "--data-root", str(root), "--jobs", str(jobs), "--threads", "1", "--out", str(out), "--quiet"]
    seconds, _ = timed(cmd)
    return seconds


def compressai(codec, folder, qualities, jobs) -> tuple:
    cmd = [sys.executable, "-m", "compressai.utils.bench", codec, str(folder), "-j", str(jobs),
           "-q", ",".join(map(str, qualities))]
    seconds, stdout = timed(cmd)
    return seconds, json.loads(stdout)["results"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", help="data folder (default: $SEGPIC_DATA or ~/.cache/segpic-bench/data)")
    parser.add_argument("--dataset", default="kodak")
    parser.add_argument("--shared-only", action="store_true", help="skip the run of all six classical codecs")
    args = parser.parse_args(argv)
    root = data_root(args.data_root)
    name, images = resolve(args.dataset, root)
    folder = images[0].parent
    work = Path(tempfile.mkdtemp(prefix="classical_speed."))
    rows = []
    try:
        qualities = {c: list(get_codec(c).default_qualities) for c in SHARED}
        codes = len(images) * sum(map(len, qualities.values()))
        for jobs in (1, 2):
            ours_s = ours(SHARED, args.dataset, root, jobs, work / f"shared{jobs}")
            theirs_s, curves = 0.0, {}
            for codec in SHARED:
                seconds, curves[codec] = compressai(codec, folder, qualities[codec], jobs)
                theirs_s += seconds
            for codec in SHARED:  # the same work: identical mean rates
                mine = load_json(work / f"shared{jobs}" / name / "default" / f"{codec}.json")["results"]["bpp"]
                if any(abs(a - b) > 1e-6 for a, b in zip(mine, curves[codec]["bpp"])):
                    sys.exit(f"error: {codec} rates differ between the tools: {mine} vs {curves[codec]['bpp']}")
            rows.append((f"jpeg+webp, {codes} codes", jobs, f"{ours_s:.1f}", f"{theirs_s:.1f}", f"{theirs_s / ours_s:.2f}x"))
            print(rows[-1], file=sys.stderr, flush=True)
        if not args.shared_only:
            codes = len(images) * sum(len(get_codec(c).default_qualities) for c in CLASSICAL)
            for jobs in (1, 2):
                seconds = ours(CLASSICAL, args.dataset, root, jobs, work / f"all{jobs}")
                rows.append((f"all 6 classical, {codes} codes", jobs, f"{seconds:.1f}", "n/a", ""))
                print(rows[-1], file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{name}: {len(images)} images; wall-clock seconds on {os.cpu_count()} CPUs "
          f"({os.uname().machine}, load average {os.getloadavg()[0]:.1f} at the end)")
    print(tabulate(rows, headers=("work", "jobs", "bench run s", "compressai bench s", "speed-up")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
