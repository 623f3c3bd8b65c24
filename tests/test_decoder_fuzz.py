"""Crafted containers (valid CRC) never crash or hang the decoder: tests/decoder_fuzz.py runs
structure-aware and random mutants of streams of all three architectures in a subprocess, so
that a signal (the segfault of compressai's rANS decoder reading past its stream) or a hang is
seen here as a failure rather than killing the test session."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _fuzz(tmp_path, random_cases: int, budget: float, seed: int, timeout: float):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "decoder_fuzz.py"), str(tmp_path), "--random", str(random_cases),
         "--seed", str(seed), "--budget", str(budget)],
        env=env, capture_output=True, text=True, timeout=timeout,
    )
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stderr[-4000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]
    summary = proc.stdout.strip().splitlines()[-1]
    assert summary.startswith("fuzz:") and summary.endswith(" 0 failures"), summary
    return int(summary.split()[1])


def test_decoder_survives_crafted_streams(tmp_path):
    """About 200 structure-aware mutants plus random ones for at most 10 s."""
    assert _fuzz(tmp_path, random_cases=10, budget=10, seed=0, timeout=600) >= 200


@pytest.mark.heavy
def test_decoder_survives_many_random_mutants(tmp_path):
    assert _fuzz(tmp_path, random_cases=500, budget=0, seed=1, timeout=3600) >= 1500
