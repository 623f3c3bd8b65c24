"""Thread-count determinism on a real image with the shipped test checkpoints.

Before ImageCodec turned oneDNN convolutions off, a SegPIC stream of kodim23 encoded with
1 thread decoded to garbage with 2 threads (max pixel error 255; WACNN 1): the rANS decoder
read other symbols because the means and scales differed in their last bits.  This test
encodes here with 1 thread and decodes in a fresh process with 2, and the other way round.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from segpic.codec import ImageCodec

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "results" / "golden" / "checkpoints"


def _in_fresh_process(script: str, threads: int) -> None:
    code = f"import torch\ntorch.set_num_threads({threads})\n" + textwrap.dedent(script)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("arch", ["segpic", pytest.param("wacnn", marks=pytest.mark.heavy), pytest.param("stf", marks=pytest.mark.heavy)])
def test_streams_and_reconstruction_do_not_depend_on_threads(arch, data_root, tmp_path):
    ckpt = CHECKPOINTS / f"{arch}-q2.pth"
    rgb = np.asarray(Image.open(data_root / "kodak" / "kodim23.png").convert("RGB"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        codec = ImageCodec.from_checkpoint(ckpt)
        data = codec.encode(rgb)
        expected = codec.reconstruct(rgb)
    finally:
        torch.set_num_threads(threads)
    (tmp_path / "one.sgp").write_bytes(data)
    np.save(tmp_path / "img.npy", rgb)
    _in_fresh_process(f"""
        import numpy as np
        from segpic.codec import ImageCodec
        codec = ImageCodec.from_checkpoint(r"{ckpt}")
        np.save(r"{tmp_path / 'dec.npy'}", codec.decode(open(r"{tmp_path / 'one.sgp'}", "rb").read()))
        open(r"{tmp_path / 'two.sgp'}", "wb").write(codec.encode(np.load(r"{tmp_path / 'img.npy'}")))
    """, threads=2)
    assert np.array_equal(np.load(tmp_path / "dec.npy"), expected)
    assert (tmp_path / "two.sgp").read_bytes() == data


@pytest.mark.parametrize("arch", ["segpic", "stf", "wacnn"])
def test_small_images_decode_alike_at_any_thread_count(arch, data_root):
    """MKL ignores STRICT on AMD CPUs: before its GEMMs ran single-threaded inside the codec, a
    64 x 64 or 192 x 128 image decoded to other pixels with 4 threads than with 1 (the latent
    maps' 36- and 100-column GEMMs were split differently). Streams and pixels must not move."""
    rgb = np.asarray(Image.open(data_root / "kodak" / "kodim23.png").convert("RGB"))
    crops = [rgb[:64, :64], rgb[:192, :128]]
    threads = torch.get_num_threads()
    seen = {}
    try:
        for n in (1, 3, 4, 16):
            torch.set_num_threads(n)
            codec = ImageCodec.from_checkpoint(CHECKPOINTS / f"{arch}-q2.pth")
            for i, crop in enumerate(crops):
                data = codec.encode(crop)
                got = (data, codec.decode(data).tobytes())
                assert seen.setdefault(i, got) == got, f"{arch} crop {i}: {n} threads differ from 1"
    finally:
        torch.set_num_threads(threads)
