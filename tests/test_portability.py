"""The codec refuses to code where its arithmetic would not be the portable one: ATen's AVX2
kernels and MKL's reproducible AUTO branch, both set when segpic is imported. A process that
ran torch operations with other settings gets one clear line, never streams that decode
differently on another machine."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "results" / "golden" / "checkpoints" / "wacnn-q1.pth"


@pytest.mark.parametrize("env, message", [
    ({"ATEN_CPU_CAPABILITY": "default"}, "exact coding needs ATen's AVX2 kernels, this process uses DEFAULT"),
    ({"MKL_CBWR": "COMPATIBLE"}, "exact coding needs MKL's reproducible AUTO branch (MKL_CBWR=AUTO,STRICT), this process has branch 3"),
])
def test_cli_refuses_unportable_arithmetic_in_one_line(tmp_path, env, message):
    Image.fromarray(np.full((64, 64, 3), 100, np.uint8)).save(tmp_path / "a.png")
    proc = subprocess.run([sys.executable, "-m", "segpic", "encode", str(tmp_path / "a.png"), str(tmp_path / "a.sgp"),
                           "--checkpoint", str(CHECKPOINT)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, **env})
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if "Warning" not in line and "warnings.warn" not in line]
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert not (tmp_path / "a.sgp").exists()


def test_decoding_refuses_unportable_arithmetic_with_the_reason(tmp_path):
    """On the decoding side the refusal keeps its own message: it is not a stream that fails
    to match the model (decode turns ValueErrors from decompress into that)."""
    stream = ROOT / "results" / "golden" / "streams" / "wacnn-kodim04.sgp"
    proc = subprocess.run([sys.executable, "-m", "segpic", "decode", str(stream), str(tmp_path / "a.png"),
                           "--checkpoint", str(CHECKPOINT.with_name("wacnn-q2.pth"))], capture_output=True,
                          text=True, cwd=ROOT, env={**os.environ, "ATEN_CPU_CAPABILITY": "default"})
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "exact coding needs ATen's AVX2 kernels" in proc.stderr, proc.stderr
    assert "does not match" not in proc.stderr and not (tmp_path / "a.png").exists()


@pytest.mark.parametrize("first_op, env, message", [
    # ATen fixes its kernels at the first vectorised operation
    ("torch.ones(64).add(1)", {"ATEN_CPU_CAPABILITY": "default"}, "exact coding needs ATen's AVX2 kernels, this process uses DEFAULT"),
    # MKL fixes its mode at its first call, and torch.exp is one (MKL's vector math)
    ("torch.ones(64).exp()", {}, "exact coding needs MKL's reproducible AUTO branch (MKL_CBWR=AUTO,STRICT), this process has branch 1"),
])
def test_settings_made_after_the_first_operation_are_caught(first_op, env, message):
    """A process that computed before importing segpic cannot be rescued: it is refused."""
    code = (f"import torch; {first_op}; import segpic\n"
            "from segpic.ops.deterministic import deterministic_inference\n"
            "from segpic.ops.threads import PortabilityError\n"
            "try:\n    deterministic_inference().__enter__()\nexcept PortabilityError as e:\n    print('refused:', e)\n")
    base = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**base, **env}).stdout
    assert out.startswith("refused: " + message), out


def test_importing_torch_first_is_fine():
    code = ("import torch; import segpic\n"
            "from segpic.ops.deterministic import deterministic_inference\n"
            "with deterministic_inference():\n    print('ok')\n")
    base = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")}
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=base).stdout == "ok\n"
