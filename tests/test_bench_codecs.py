"""Classical codecs: a real file each way, 8-bit RGB back, deterministic, sensible rates."""
import numpy as np
import pytest

from bench.codecs import CodecError, available, get_codec
from bench.images import load_rgb
from bench.metrics import psnr_rgb

CLASSICAL = ["jpeg", "webp", "jpeg2000", "avif", "jpegxl", "heic"]


@pytest.fixture(scope="module")
def crop(data_root):
    """A 200 x 232 detailed crop of kodim23 (odd multiple of nothing in particular)."""
    return np.ascontiguousarray(load_rgb(data_root / "kodak" / "kodim23.png").rgb[150:350, 300:532])


def test_all_classical_codecs_are_registered():
    assert set(CLASSICAL) <= set(available())


@pytest.mark.parametrize("name", CLASSICAL)
def test_round_trip_through_a_real_file(tmp_path, crop, name):
    codec = get_codec(name)
    qualities = list(codec.default_qualities)
    low, high = qualities[0], qualities[-1]
    sizes, psnrs = [], []
    for q in (low, high):
        path = tmp_path / f"{q}{codec.extension}"
        codec.encode(crop, q, path)
        assert path.stat().st_size > 0
        decoded = codec.decode(path)
        assert decoded.dtype == np.uint8 and decoded.shape == crop.shape
        sizes.append(path.stat().st_size)
        psnrs.append(psnr_rgb(crop, decoded))
    assert sizes[0] < sizes[1], "a higher quality must cost more bits"
    assert 20.0 < psnrs[0] < psnrs[1] < 60.0
    bpp_high = sizes[1] * 8 / (crop.shape[0] * crop.shape[1])
    assert bpp_high < 8.0


@pytest.mark.parametrize("name", CLASSICAL)
def test_same_input_same_bytes(tmp_path, crop, name):
    codec = get_codec(name)
    q = codec.default_qualities[2]
    codec.encode(crop, q, tmp_path / "a")
    codec.encode(crop, q, tmp_path / "b")
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


@pytest.mark.parametrize("name", CLASSICAL)
@pytest.mark.parametrize("size", [(1, 1), (63, 65)])
def test_odd_sizes(tmp_path, name, size):
    codec = get_codec(name)
    rgb = np.random.RandomState(0).randint(0, 256, size + (3,), dtype=np.uint8)
    path = tmp_path / f"odd{codec.extension}"
    codec.encode(rgb, codec.default_qualities[-1], path)
    assert codec.decode(path).shape == rgb.shape


@pytest.mark.parametrize("name", CLASSICAL)
def test_version_names_the_library_and_its_version(name):
    version = get_codec(name).version()
    assert any(ch.isdigit() for ch in version)
    assert any(lib in version for lib in ("libjpeg-turbo", "libwebp", "openjpeg", "libavif", "libjxl", "libheif"))


def test_learned_codec_needs_checkpoints(tmp_path):
    with pytest.raises(CodecError, match="--checkpoint segpic="):
        get_codec("segpic")
    with pytest.raises(CodecError, match="not found"):
        get_codec("stf", checkpoints=[str(tmp_path / "missing.pth")])


def test_learned_codec_maps_quality_i_to_checkpoint_i(tmp_path):
    paths = []
    for i in range(3):
        p = tmp_path / f"q{i}.pth"
        p.write_bytes(b"x")
        paths.append(str(p))
    codec = get_codec("wacnn", checkpoints=paths)
    assert codec.default_qualities == (1, 2, 3)
    assert codec.parse_quality("2") == 2
    with pytest.raises(CodecError, match="out of range"):
        codec.parse_quality("4")
