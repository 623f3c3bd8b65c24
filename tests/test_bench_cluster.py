"""``bench run --cluster`` on Dask (loopback only) and ``--device``: same rows as ``--jobs 1``,
worker and client deaths, the one-line errors."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from bench.__main__ import main
from bench.results import COLUMNS

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
TIMED = ("encode_s", "decode_s")


def _rows(csv_path):
    with open(csv_path, newline="") as f:
        return list(csv.DictReader(f))


def _untimed(rows):
    return {(r["image"], r["codec"], r["quality"]): {c: r[c] for c in COLUMNS if c not in TIMED} for r in rows}


def _streams(folder: Path):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def crops(tmp_path_factory, data_root):
    """Eight 384x256 Kodak crops: cheap to code, big enough for MS-SSIM."""
    folder = tmp_path_factory.mktemp("cluster") / "crops"
    folder.mkdir()
    for i in range(1, 9):
        with Image.open(data_root / "kodak" / f"kodim{i:02d}.png") as im:
            im.crop((0, 0, 384, 256)).save(folder / f"crop{i}.png")
    return folder


def test_local_cluster_run_equals_a_jobs_1_run(tmp_path, crops):
    common = ["run", "--models", "jpeg", "webp", "--dataset", str(crops), "--qualities", "20", "60", "--quiet"]
    assert main(common + ["--out", str(tmp_path / "one"), "--threads", "1"]) == 0
    assert main(common + ["--out", str(tmp_path / "cluster"), "--cluster", "local:2", "--threads", "1"]) == 0
    one = _rows(tmp_path / "one" / "crops" / "default" / "per_image.csv")
    cluster = _rows(tmp_path / "cluster" / "crops" / "default" / "per_image.csv")
    assert len(one) == 8 * 2 * 2
    assert _untimed(cluster) == _untimed(one), "same rows, metrics and bytes, row for row"
    streams = _streams(tmp_path / "one" / "crops" / "streams")
    assert len(streams) == 32 and _streams(tmp_path / "cluster" / "crops" / "streams") == streams
    assert not list((tmp_path / "cluster").rglob("*.tmp"))


# --- a scheduler and two workers, each its own process on 127.0.0.1 ---------------------


def _stop(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """``dask scheduler`` and two single-threaded ``dask worker`` processes (no nanny, so that
    killing one is killing the worker); yields (address, {name: process})."""
    base = tmp_path_factory.mktemp("dask")
    file = base / "scheduler.json"
    started = []

    def start(*args):
        process = subprocess.Popen([sys.executable, "-m", "distributed.cli." + args[0], *args[1:]], cwd=base, env=ENV,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(process)
        return process

    try:
        start("dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", str(file))
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = {name: start("dask_worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                               "--host", "127.0.0.1", "--no-dashboard") for name in ("w1", "w2")}
        with distributed.Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address, workers
    finally:
        for process in started:
            _stop(process)


def _bench(address, crops, out, qualities):
    return [sys.executable, "-m", "bench", "run", "--models", "jpeg", "--dataset", str(crops), "--qualities",
            *map(str, qualities), "--out", str(out), "--cluster", address, "--threads", "1", "--save-every", "0",
            "--quiet"]


def test_client_killed_and_restarted_loses_and_repeats_nothing(tmp_path, crops, scheduler):
    address, _ = scheduler
    qualities = range(5, 100, 10)  # 10 codings per task: a task takes a while
    cmd = _bench(address, crops, tmp_path, qualities)
    csv_path = tmp_path / "crops" / "default" / "per_image.csv"
    first = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not csv_path.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert first.poll() is None, "the run ended before it could be killed: " + first.stderr.read().decode()
    finally:
        _stop(first)
    kept = len(_rows(csv_path))
    total = 8 * len(qualities)
    assert 0 < kept < total

    second = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    assert f"{total - kept} to code, {kept} already in" in second.stderr
    rows = _rows(csv_path)
    assert len(rows) == total and len(_untimed(rows)) == total
    for r in rows:
        stream = tmp_path / "crops" / "streams" / "default" / "jpeg" / f"q{r['quality']}" / (r["image"][:-4] + ".jpg")
        assert stream.stat().st_size == int(r["bytes"])
    assert not list(tmp_path.rglob("*.tmp"))


def test_a_worker_killed_mid_task_loses_and_repeats_nothing(tmp_path, crops, scheduler):
    address, workers = scheduler
    qualities = range(5, 100, 5)
    run = subprocess.Popen(_bench(address, crops, tmp_path, qualities), cwd=ROOT, env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        with distributed.Client(address, timeout=30) as client:
            names = {addr: w["name"] for addr, w in client.scheduler_info(n_workers=-1)["workers"].items()}
            deadline = time.monotonic() + 120
            busy = []
            while not busy and run.poll() is None and time.monotonic() < deadline:
                busy = [names[addr] for addr, keys in client.processing().items() if keys and names.get(addr) == "w1"]
                time.sleep(0.02)
            assert busy, "worker w1 never got a task"
            os.killpg(workers["w1"].pid, signal.SIGKILL)
            workers["w1"].wait(timeout=30)
        _, err = run.communicate(timeout=300)
    finally:
        _stop(run)
    assert run.returncode == 0, err
    assert "warning" not in err and "error" not in err, err
    rows = _rows(tmp_path / "crops" / "default" / "per_image.csv")
    assert len(rows) == 8 * len(qualities) and len(_untimed(rows)) == len(rows), "every row exactly once"


# --- one-line errors ---------------------------------------------------------------------


def test_cluster_without_distributed_says_how_to_install(crops, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    assert main(["run", "--models", "jpeg", "--dataset", str(crops), "--out", str(tmp_path),
                 "--cluster", "local:2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --cluster needs Dask's distributed: pip install 'segpic-bench[cluster]' "
                   "(or: pip install distributed)"]


@pytest.mark.parametrize("spec", ["local:0", "local", "tcp://127.0.0.1", "127.0.0.1:8786"])
def test_bad_cluster_specs_are_one_line(spec, crops, tmp_path, capsys):
    assert main(["run", "--models", "jpeg", "--dataset", str(crops), "--out", str(tmp_path), "--cluster", spec]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --cluster")


def test_an_unreachable_scheduler_is_one_line(crops, tmp_path, monkeypatch, capsys):
    import socket

    from bench import cluster

    with socket.socket() as free:  # a port nobody listens on
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 2)
    assert main(["run", "--models", "jpeg", "--dataset", str(crops), "--out", str(tmp_path),
                 "--cluster", f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
def test_device_cuda_without_a_gpu_is_one_line_and_exit_1(crops, tmp_path, capsys):
    assert main(["run", "--models", "jpeg", "--dataset", str(crops), "--out", str(tmp_path),
                 "--device", "cuda"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --device cuda: PyTorch sees no CUDA GPU here")
    assert not (tmp_path / "crops").exists(), "nothing was coded"

    from segpic.__main__ import main as segpic_main

    assert segpic_main(["encode", str(crops / "crop1.png"), str(tmp_path / "a.sgp"),
                        "--checkpoint", str(crops / "crop1.png"), "--device", "cuda:1"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == ["segpic: error: --device cuda:1: " + err[0].split(": ", 2)[2]]
    assert not (tmp_path / "a.sgp").exists()


def test_device_is_recorded_and_rows_of_another_device_kind_are_redone(tmp_path, crops, capsys):
    from bench.results import ResultTable

    out = tmp_path / "r"
    argv = ["run", "--models", "jpeg", "--dataset", str(crops), "--qualities", "50", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    csv_path = out / "crops" / "default" / "per_image.csv"
    assert {r["device"] for r in _rows(csv_path)} == {"cpu"}
    # a file from before the column existed reads as coded on the CPU: nothing to redo
    lines = csv_path.read_text().splitlines()
    csv_path.write_text("\n".join(line.rsplit(",", 1)[0] for line in lines) + "\n")
    assert len(ResultTable(csv_path)) == 8
    capsys.readouterr()
    assert main(argv) == 0
    assert "0 to code, 8 already in" in capsys.readouterr().err
    # rows coded on a GPU are not results of a CPU run
    text = csv_path.read_text().replace(",cpu\n", ",cuda\n", 3)
    csv_path.write_text(text)
    assert main(argv) == 0
    assert "3 to code, 5 already in" in capsys.readouterr().err
