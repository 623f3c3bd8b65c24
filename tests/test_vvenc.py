"""Codec ``vvenc``: VVenC in the ffmpeg of imageio-ffmpeg, decoded by ffmpeg's VVC decoder."""
import sys

import numpy as np
import pytest

import bench.codecs.vvenc as vvenc_module
from bench.codecs.base import CodecError
from bench.codecs.vvenc import VVenC
from bench.metrics import psnr_rgb


@pytest.fixture(scope="module")
def codec():
    try:
        return VVenC(vvenc_preset="faster")
    except CodecError as e:           # an imageio-ffmpeg build without libvvenc
        pytest.skip(str(e))


def _smooth_image(height, width):
    """A smooth colour image (coding noise would dominate a random one)."""
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    rgb = np.stack([128 + 100 * np.sin(6 * x), 128 + 100 * np.cos(5 * y), 255 * x * y], -1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def test_version_names_the_real_encoder(codec):
    version = codec.version()
    assert version.startswith("VVenC ") and "not VTM" in version
    assert f"YCbCr-BT.709 {codec.chroma} 10-bit" in version and "preset faster" in version
    assert "version unknown" not in version


@pytest.mark.parametrize("height, width", [(48, 64), (33, 45)])
def test_round_trip(codec, tmp_path, height, width):
    rgb = _smooth_image(height, width)
    path = tmp_path / "img.266"
    codec.encode(rgb, 27, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.266", "img.log"]
    raw = path.read_bytes()
    assert raw[:3] == b"\x00\x00\x01" or raw[:4] == b"\x00\x00\x00\x01"   # Annex-B VVC, no box
    out = codec.decode(path)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert psnr_rgb(rgb, out) > 35
    assert sorted(p.name for p in tmp_path.iterdir()) == ["img.266", "img.log"]
    codec.encode(rgb, 27, tmp_path / "again.266")
    assert (tmp_path / "again.266").read_bytes() == raw                     # deterministic
    assert np.array_equal(codec.decode(tmp_path / "again.266"), out)
    codec.encode(rgb, 42, tmp_path / "low.266")
    assert (tmp_path / "low.266").stat().st_size < len(raw)                  # QP controls rate


def test_bad_input_is_one_line(codec, tmp_path):
    with pytest.raises(CodecError, match="--vvenc-preset must be one of"):
        VVenC(vvenc_preset="ultrafast")
    (tmp_path / "x.266").write_bytes(b"\x00\x00\x01")
    with pytest.raises(CodecError, match="encoder log"):
        codec.decode(tmp_path / "x.266")
    with pytest.raises(CodecError, match="ffmpeg failed on tiny.266"):
        codec.encode(np.zeros((8, 8, 3), np.uint8), 32, tmp_path / "tiny.266")
    assert not (tmp_path / "tiny.266").exists() and not (tmp_path / "tiny.log").exists()


def test_ffmpeg_without_libvvenc_says_so(monkeypatch, tmp_path):
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"#!{sys.executable}\nprint(' V....D libx265   H.265 (codec hevc)')\n")
    fake.chmod(0o755)
    monkeypatch.setattr(vvenc_module, "_ffmpeg", lambda: str(fake))
    with pytest.raises(CodecError, match="has no libvvenc encoder, so codec vvenc is unavailable"):
        VVenC()
