"""bench.perf.authors_segpic runs the authors' SegPIC from a checkout of their repository in a
process of its own. The checkout is not part of the project, so these tests check the pieces
that do not need it: our weights in their key format (against the spec's key list), and the
import machinery (stand-ins, compressai 1.2.8's compiled modules under the vendored package's
names, no segpic in the process) on a stand-in checkout that imports what theirs imports."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.perf import authors_segpic, codec_speed

ROOT = Path(__file__).resolve().parents[1]


def test_our_weights_in_the_authors_key_format_match_their_state_dict(shared_dir):
    spec = [line.split("\t")[0] for line in (shared_dir / "spec" / "segpic_state_dict.txt").read_text().splitlines()
            if "\t" in line and not line.startswith("#")]
    cdf_buffers = ("_offset", "_quantized_cdf", "_cdf_length", "scale_table")  # rebuilt by update()
    state = authors_segpic.authors_state_dict(codec_speed.build_model("segpic"))
    assert sorted(state) == sorted(k for k in spec if not k.endswith(cdf_buffers))
    assert torch.equal(state["basic_E.0.conv_groups.0.weight"], state["g_a1.0.conv_groups.0.weight"])
    assert torch.equal(state["basic_D.3.conv_groups.0.weight"], state["g_s1.2.conv_groups.0.weight"])
    assert "entropy_bottleneck._matrix0" in state and "entropy_bottleneck.matrices.0" not in state


_STAND_IN_SAC = '''
import sys
import torch
import torch.nn as nn
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai._CXX import pmf_to_quantized_cdf
from timm.models.layers import DropPath, to_2tuple, trunc_normal_
from panopticapi.utils import rgb2id
from PIL import Image

ANTIALIAS = Image.ANTIALIAS


class SegPIC(nn.Module):
    """Stands in for theirs: one 1x1 conv; the stream is its rounded mean, one byte."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        assert DropPath(0.1)(torch.ones(1)) == 1 and to_2tuple(4) == (4, 4)

    def update(self, force=False):
        return True

    def compress(self, x):
        assert "segpic" not in sys.modules and "bench" not in sys.modules
        assert len(pmf_to_quantized_cdf([0.25] * 4, 16)) == 5 and BufferedRansEncoder() and RansDecoder()
        value = int(self.conv(x).mean().mul(10).round().clamp(0, 9))
        return {"strings": [[bytes([value])]], "shape": (1, 1)}

    def decompress(self, strings, shape):
        return {"x_hat": torch.full((1, 3, 64, 64), strings[0][0][0] / 10)}
'''


@pytest.fixture
def stand_in_checkout(tmp_path):
    package = tmp_path / "checkout" / "SegPIC-main" / "compressai"
    (package / "models").mkdir(parents=True)
    (package / "__init__.py").write_text("from compressai import models\n")
    (package / "models" / "__init__.py").write_text("from .sac import SegPIC\n")
    (package / "models" / "sac.py").write_text(textwrap.dedent(_STAND_IN_SAC))
    weights = tmp_path / "weights.pt"
    torch.manual_seed(0)
    torch.save({"conv.weight": torch.full((3, 3, 1, 1), 1 / 3), "conv.bias": torch.zeros(3)}, weights)
    return tmp_path / "checkout", weights


def _worker(spec: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "perf" / "authors_segpic.py"), "--worker",
                           json.dumps(spec)], capture_output=True, text=True, cwd=ROOT)


def test_the_worker_runs_a_checkout_with_stand_ins_and_without_segpic(stand_in_checkout, tmp_path):
    checkout, weights = stand_in_checkout
    image = tmp_path / "image.npy"
    np.save(image, np.full((40, 50, 3), 128, np.uint8))
    spec = dict(threads=1, runs=2, image=str(image), reference_dir=str(checkout), weights=str(weights),
                bitstream=str(tmp_path / "s.bin"), decoded=str(tmp_path / "d.npy"))
    enc = _worker(dict(spec, op="encode"))
    assert enc.returncode == 0, enc.stderr
    dec = _worker(dict(spec, op="decode"))
    assert dec.returncode == 0, dec.stderr
    result = json.loads(dec.stdout.strip().splitlines()[-1])
    assert result["seconds"] > 0 and result["peak_mib"] >= result["load_mib"] > 0
    decoded = np.load(tmp_path / "d.npy")  # cropped back from the 64 x 64 padding to 40 x 50
    # the stand-in's stream: the padded image's mean, 128/255 * (40*50)/(64*64) = 0.245, to 0.2
    assert decoded.shape == (40, 50, 3) and (decoded == 51).all()


def test_the_worker_refuses_weights_that_do_not_fit_in_one_line(stand_in_checkout, tmp_path):
    checkout, _ = stand_in_checkout
    bad = tmp_path / "bad.pt"
    torch.save({"other.weight": torch.zeros(1)}, bad)
    np.save(tmp_path / "i.npy", np.zeros((64, 64, 3), np.uint8))
    proc = _worker(dict(threads=1, runs=1, image=str(tmp_path / "i.npy"), reference_dir=str(checkout),
                        weights=str(bad), bitstream=str(tmp_path / "s.bin"), op="encode"))
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "do not fit" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--variants", "ours", "authors"], "needs --reference-dir"),
    (["--reference-dir", "/nonexistent/checkout"], "not a checkout"),
])
def test_codec_speed_refuses_a_missing_or_wrong_checkout_in_one_line(args, message, capsys):
    assert codec_speed.main(["--archs", "segpic", "--sizes", "64x64", "--runs", "1", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and err.strip().count("\n") == 0
