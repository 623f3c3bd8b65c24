"""``python -m bench run`` end to end: files, rows, curves, resume, bad input, executors."""
import csv
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench import run as bench_run
from bench.__main__ import main
from bench.codecs import get_codec
from bench.images import load_rgb
from bench.metrics import psnr_rgb
from bench.results import COLUMNS, load_json

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def kodak3(tmp_path, data_root):
    """A folder dataset of three Kodak images (one portrait)."""
    folder = tmp_path / "kodak3"
    folder.mkdir()
    for name in ("kodim04.png", "kodim15.png", "kodim23.png"):
        shutil.copy(data_root / "kodak" / name, folder / name)
    return folder


def _rows(csv_path):
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module")
def kodak3_run(tmp_path_factory, data_root):
    """``bench run`` of jpeg and webp at qualities 20 and 60 on three Kodak images."""
    base = tmp_path_factory.mktemp("run")
    folder = base / "kodak3"
    folder.mkdir()
    for name in ("kodim04.png", "kodim15.png", "kodim23.png"):
        shutil.copy(data_root / "kodak" / name, folder / name)
    out = base / "results"
    argv = ["run", "--models", "jpeg", "webp", "--dataset", str(folder), "--qualities", "20", "60",
            "--out", str(out), "--label", "t1", "--quiet", "--threads", "1"]
    assert main(argv) == 0
    return folder, out


def test_run_writes_streams_rows_and_compressai_json(kodak3_run):
    kodak3, out = kodak3_run
    csv_path = out / "kodak3" / "t1" / "per_image.csv"
    header, rows = _rows(csv_path)
    assert tuple(header) == COLUMNS
    assert len(rows) == 3 * 2 * 2
    assert len({(r["image"], r["codec"], r["quality"]) for r in rows}) == len(rows)
    for r in rows:
        stream = out / "kodak3" / "streams" / "t1" / r["codec"] / f"q{r['quality']}" / (
            Path(r["image"]).stem + get_codec(r["codec"]).extension)
        assert stream.stat().st_size == int(r["bytes"])
        w, h = int(r["width"]), int(r["height"])
        assert math.isclose(float(r["bpp"]), int(r["bytes"]) * 8 / (w * h), abs_tol=1e-6)
        # the metrics were measured on what the stream decodes to
        original = load_rgb(kodak3 / r["image"]).rgb
        assert original.shape == (h, w, 3)
        decoded = get_codec(r["codec"]).decode(stream)
        assert math.isclose(float(r["psnr_rgb"]), psnr_rgb(original, decoded), abs_tol=1e-5)
        assert 0.8 < float(r["ms_ssim_rgb"]) < 1.0
        assert float(r["encode_s"]) > 0 and float(r["decode_s"]) > 0
        assert r["checkpoint_sha"] == "" and r["dataset"] == "kodak3" and r["device"] == "cpu"

    for codec in ("jpeg", "webp"):
        doc = load_json(out / "kodak3" / "t1" / f"{codec}.json")
        assert doc["name"] == codec and "3 images per point" in doc["description"]
        res = doc["results"]
        assert res["quality"] == [20, 60]
        for i, q in enumerate(("20", "60")):
            mine = [r for r in rows if r["codec"] == codec and r["quality"] == q]
            assert math.isclose(res["bpp"][i], np.mean([float(r["bpp"]) for r in mine]), rel_tol=1e-6)
            assert math.isclose(res["psnr-rgb"][i], np.mean([float(r["psnr_rgb"]) for r in mine]), rel_tol=1e-6)


def _compressai_plot_reader():
    """``parse_json_file`` of compressai.utils.plot, loaded from its file without running
    compressai's package ``__init__`` (which imports torchvision: seconds, not needed)."""
    import importlib.util

    package = importlib.util.find_spec("compressai").submodule_search_locations[0]
    spec = importlib.util.spec_from_file_location("compressai_plot_main", Path(package) / "utils/plot/__main__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_json_file


def test_json_is_read_by_compressai_plot(kodak3_run):
    parse_json_file = _compressai_plot_reader()

    path = kodak3_run[1] / "kodak3" / "t1" / "jpeg.json"
    for metric, key in (("psnr", "psnr-rgb"), ("ms-ssim", "ms-ssim-rgb")):
        parsed = parse_json_file(path, metric)
        assert parsed["name"] == "jpeg" and parsed["xs"] == load_json(path)["results"]["bpp"]
        assert len(parsed["ys"]) == 2


def test_second_run_codes_only_what_is_missing(kodak3_run, capsys):
    kodak3, out = kodak3_run
    csv_path = out / "kodak3" / "t1" / "per_image.csv"
    first = {(r["image"], r["codec"], r["quality"]): r for r in _rows(csv_path)[1]}
    capsys.readouterr()
    assert main(["run", "--models", "jpeg", "--dataset", str(kodak3), "--out", str(out), "--label", "t1",
                 "--quiet", "--threads", "1", "--qualities", "20", "40"]) == 0
    assert "3 to code, 3 already in" in capsys.readouterr().err
    second = {(r["image"], r["codec"], r["quality"]): r for r in _rows(csv_path)[1]}
    assert len(second) == 15
    assert all(second[k] == v for k, v in first.items()), "finished rows are kept as they were"


def test_an_injected_executor_runs_the_tasks(tmp_path, kodak3):
    parser_args = ["run", "--models", "jpeg", "--dataset", str(kodak3), "--qualities", "50",
                   "--out", str(tmp_path), "--jobs", "2", "--quiet", "--threads", "1"]
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    bench_run.add_arguments(sub.add_parser("run"))
    with ThreadPoolExecutor(2) as pool:
        assert bench_run.main(parser.parse_args(parser_args), executor=pool) == 0
    assert len(_rows(tmp_path / "kodak3" / "default" / "per_image.csv")[1]) == 3


def test_bad_inputs_are_converted_or_skipped(tmp_path, capsys):
    folder = tmp_path / "odd"
    folder.mkdir()
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 256, (200, 170), dtype=np.uint8), "L").save(folder / "gray.png")
    Image.fromarray(rng.randint(0, 256, (180, 190, 4), dtype=np.uint8), "RGBA").save(folder / "rgba.png")
    Image.fromarray(rng.randint(0, 256, (65, 63, 3), dtype=np.uint8)).save(folder / "small.png")
    Image.fromarray(rng.randint(0, 256, (1, 1, 3), dtype=np.uint8)).save(folder / "tiny.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    status = main(["run", "--models", "jpeg", "--dataset", str(folder), "--qualities", "50",
                   "--out", str(tmp_path / "r"), "--quiet", "--threads", "1"])
    err = capsys.readouterr().err
    assert status == 0
    assert "broken.png" in err and "skipped" in err
    assert "gray.png: grayscale converted to 8-bit RGB" in err
    assert "rgba.png: RGBA (alpha dropped) converted to 8-bit RGB" in err
    assert "Traceback" not in err
    rows = {r["image"]: r for r in _rows(tmp_path / "r" / "odd" / "default" / "per_image.csv")[1]}
    assert sorted(rows) == ["gray.png", "rgba.png", "small.png", "tiny.png"]
    assert rows["small.png"]["ms_ssim_rgb"] == "nan" and rows["tiny.png"]["width"] == "1"
    assert rows["gray.png"]["ms_ssim_rgb"] != "nan"


def test_image_bombs_are_skipped_and_the_other_rows_kept(tmp_path, capsys):
    """30000 x 30000 PNGs, 8- and 16-bit, among good images: one warning each, no traceback."""
    from test_bench_images import _png_header_only

    folder = tmp_path / "bombs"
    folder.mkdir()
    rng = np.random.RandomState(1)
    for name in ("a.png", "z.png"):
        Image.fromarray(rng.randint(0, 256, (48, 64, 3), dtype=np.uint8)).save(folder / name)
    _png_header_only(folder / "bomb8.png", 30000, 30000, 8)
    _png_header_only(folder / "bomb16.png", 30000, 30000, 16)
    status = main(["run", "--models", "jpeg", "--dataset", str(folder), "--qualities", "50",
                   "--out", str(tmp_path / "r"), "--quiet", "--threads", "1"])
    err = capsys.readouterr().err
    assert status == 0 and "Traceback" not in err
    for bomb in ("bomb8.png", "bomb16.png"):
        assert f"warning: skipped {folder / bomb}: image of 30000x30000" in err
    rows = _rows(tmp_path / "r" / "bombs" / "default" / "per_image.csv")[1]
    assert sorted(r["image"] for r in rows) == ["a.png", "z.png"]
    assert main(["run", "--models", "jpeg", "--dataset", str(folder), "--qualities", "50", "--max-pixels", "0",
                 "--out", str(tmp_path / "r"), "--quiet"]) == 2


@pytest.mark.parametrize("argv, message", [
    (["run", "--models", "nope"], "unknown codec 'nope'"),
    (["run", "--models", "jpeg", "--jobs", "0"], "--jobs must be at least 1"),
    (["run", "--models", "jpeg", "--qualities", "webp=5"], "codec 'webp' is not among --models"),
    (["run", "--models", "jpeg", "--checkpoint", "segpic=a.pth"], "not among --models"),
    (["run", "--models", "segpic"], "--checkpoint segpic=PATH"),
])
def test_user_errors_are_one_line(argv, message, data_root, capsys):
    assert main(argv + ["--data-root", str(data_root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_kill_and_restart_loses_and_repeats_nothing(tmp_path, data_root):
    """SIGKILL a real ``python -m bench run --jobs 2`` mid-run, start it again, check the rows."""
    folder = tmp_path / "crops"
    folder.mkdir()
    for i in range(1, 9):
        rgb = load_rgb(data_root / "kodak" / f"kodim{i:02d}.png").rgb
        Image.fromarray(rgb[:256, :384]).save(folder / f"crop{i}.png")
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", "run", "--models", "jpeg", "--dataset", str(folder),
           "--qualities", "10", "30", "50", "70", "--out", str(out), "--jobs", "2", "--threads", "1",
           "--save-every", "0", "--quiet"]
    csv_path = out / "crops" / "default" / "per_image.csv"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    first = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    deadline = time.monotonic() + 120
    while not csv_path.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert first.poll() is None, "the run ended before it could be killed: " + first.stderr.read().decode()
    os.killpg(first.pid, signal.SIGKILL)  # the whole run: the parent and its worker processes
    first.wait()
    header, rows = _rows(csv_path)
    kept = len(rows)
    assert tuple(header) == COLUMNS and 0 < kept < 32
    assert all(None not in r.values() and all(r[c] != "" for c in COLUMNS if c != "checkpoint_sha") for r in rows)

    second = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"{32 - kept} to code, {kept} already in" in second.stderr
    header, rows = _rows(csv_path)
    keys = [(r["image"], r["quality"]) for r in rows]
    assert len(keys) == 32 and len(set(keys)) == 32
    assert not list(csv_path.parent.glob(".*.tmp")), "no temp file left behind"


def _children(pid):
    """PIDs of the live children of ``pid`` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] not in "ZX"
    except (OSError, IndexError):
        return False


def _wait_gone(pids, seconds):
    deadline = time.monotonic() + seconds
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_workers_end_when_the_run_is_killed(tmp_path, data_root):
    """SIGKILL only the parent of a ``--jobs 2`` run: its two workers are gone within seconds."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    rgb = load_rgb(data_root / "kodak" / "kodim01.png").rgb
    for i in range(6):
        Image.fromarray(np.roll(rgb, 37 * i, axis=1)).save(folder / f"img{i:02d}.png", compress_level=1)
    cmd = [sys.executable, "-m", "bench", "run", "--models", "jpeg", "webp", "--dataset", str(folder),
           "--qualities", *map(str, range(5, 96, 5)), "--out", str(tmp_path / "r"), "--jobs", "2",
           "--threads", "1", "--quiet"]
    run = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    workers = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = _children(run.pid)
        assert len(workers) >= 2 and run.poll() is None, "the run did not start two workers"
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        assert _wait_gone(workers, 5) == []
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_lifeline_watchdog_alone_ends_an_orphan(tmp_path):
    """Without PR_SET_PDEATHSIG (other systems), the parent-PID watchdog ends the worker."""
    script = (
        "import os, sys, time\n"
        "from bench import lifeline\n"
        "lifeline._set_pdeathsig = lambda: False\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    null = os.open(os.devnull, os.O_WRONLY)\n"
        "    os.dup2(null, 1), os.dup2(null, 2)\n"
        "    lifeline.die_with_parent(poll_s=0.1)\n"
        "    time.sleep(60)\n"
        "    os._exit(0)\n"
        "print(child, flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, timeout=60)
    orphan = int(out.stdout.split()[0])
    try:
        assert _wait_gone([orphan], 5) == []
    finally:
        if _alive(orphan):
            os.kill(orphan, signal.SIGKILL)


@pytest.mark.heavy
def test_full_kodak_jpeg_webp(tmp_path, data_root):
    """The issue's acceptance run: all of Kodak, jpeg and webp at their default qualities."""
    out = tmp_path / "results"
    assert main(["run", "--models", "jpeg", "webp", "--dataset", "kodak", "--data-root", str(data_root),
                 "--out", str(out), "--jobs", "2", "--threads", "1", "--quiet"]) == 0
    header, rows = _rows(out / "kodak" / "default" / "per_image.csv")
    assert len(rows) == 24 * (len(get_codec("jpeg").default_qualities) + len(get_codec("webp").default_qualities))
    for codec in ("jpeg", "webp"):
        doc = load_json(out / "kodak" / "default" / f"{codec}.json")
        assert "over 24 images per point" in doc["description"]
        assert len(doc["results"]["bpp"]) == len(get_codec(codec).default_qualities)
        assert doc["results"]["bpp"] == sorted(doc["results"]["bpp"])


def test_rows_of_another_codec_version_are_redone(kodak3_run, capsys):
    kodak3, out = kodak3_run
    csv_path = out / "kodak3" / "t1" / "per_image.csv"
    text = csv_path.read_text()
    version = get_codec("webp").version()
    csv_path.write_text(text.replace(version, "Pillow 0.0 libwebp 0.0"))
    assert main(["run", "--models", "webp", "--dataset", str(kodak3), "--out", str(out), "--label", "t1",
                 "--quiet", "--threads", "1", "--qualities", "20", "60"]) == 0
    assert "6 to code, 0 already in" in capsys.readouterr().err
    rows = _rows(csv_path)[1]
    assert {r["codec_version"] for r in rows if r["codec"] == "webp"} == {version}


def test_codec_options_reach_only_the_codecs_that_take_them():
    from argparse import Namespace

    from bench.run import codec_options

    args = Namespace(vtm_dir="/opt/vtm", vtm_cfg=None, vtm_input_bits=10, vvenc_preset="slow")
    assert codec_options("vtm", args, {}) == {"vtm_dir": "/opt/vtm", "vtm_input_bits": 10}
    assert codec_options("vvenc", args, {}) == {"vvenc_preset": "slow"}
    assert codec_options("jpeg", args, {}) == {}
    assert codec_options("segpic", args, {"segpic": ["a.pth"]}) == {"checkpoints": ["a.pth"]}


def test_default_output_is_runs_which_git_ignores(tmp_path, monkeypatch, data_root):
    """The quick start writes under runs/ (ignored by git), never into the committed results/."""
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("kodim04.png", "kodim23.png"):
        shutil.copy(data_root / "kodak" / name, folder / name)
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--models", "jpeg", "--dataset", str(folder), "--qualities", "50", "--quiet",
                 "--threads", "1"]) == 0
    assert len(_rows(tmp_path / "runs" / "two" / "default" / "per_image.csv")[1]) == 2
    assert not (tmp_path / "results").exists()
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", "runs/kodak/default/per_image.csv"], cwd=ROOT)
        assert ignored.returncode == 0, "runs/ must be ignored by git"
