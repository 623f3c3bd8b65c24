"""RGB <-> YCbCr BT.709 full range and planar YUV files (bench/colour.py)."""
import numpy as np
import pytest

from bench.colour import (read_yuv, rgb_to_ycbcr, subsample_420, upsample_420, write_yuv,
                          ycbcr_to_rgb)


def _colour_slab(red_values):
    """Every (G, B) pair for each listed R: an image of shape (len(R) * 256, 256, 3)."""
    v = np.arange(256, dtype=np.uint8)
    r, g, b = np.meshgrid(np.asarray(red_values, np.uint8), v, v, indexing="ij")
    return np.stack([r, g, b], axis=-1).reshape(-1, 256, 3)


def test_known_values_by_hand():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]]], np.uint8)
    # Y = 0.2126 R + 0.7152 G + 0.0722 B; black chroma is 127.5 -> 128 (half to even)
    # red: Y = 54.213 -> 54, Cb = 0.5 - 0.5 * 0.2126 / 0.9278 -> 98.285 -> 98, Cr = 1 -> 255
    # blue: Y = 18.411 -> 18, Cb = 1 -> 255, Cr = 0.5 - 0.5 * 0.0722 / 0.7874 -> 115.809 -> 116
    expected = np.array([[[0, 255, 54, 18]], [[128, 128, 98, 255]], [[128, 128, 255, 116]]])
    np.testing.assert_array_equal(rgb_to_ycbcr(rgb, 8), expected)
    np.testing.assert_array_equal(ycbcr_to_rgb(rgb_to_ycbcr(rgb, 10), 10), rgb)


def test_rounds_instead_of_truncating():
    # R = G = 158, B = 128: Cb * 255 is exactly 112.5 and Y * 255 is 155.834: truncation would
    # give Y 155; rounding gives 156, and the tie goes to even (112), as in the shipped anchors.
    ycc = rgb_to_ycbcr(np.array([[[158, 158, 128]]], np.uint8), 8)
    assert ycc[:, 0, 0].tolist() == [156, 112, 129]


def test_ten_bit_round_trip_is_lossless_and_eight_bit_within_one():
    rgb = _colour_slab(range(0, 256, 17))
    np.testing.assert_array_equal(ycbcr_to_rgb(rgb_to_ycbcr(rgb, 10), 10), rgb)
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb, 8), 8).astype(int)
    assert np.abs(back - rgb).max() == 1


def test_output_types_and_clipping():
    assert rgb_to_ycbcr(np.zeros((2, 3, 3), np.uint8), 8).dtype == np.uint8
    ten = rgb_to_ycbcr(np.full((2, 3, 3), 255, np.uint8), 10)
    assert ten.dtype == np.uint16 and ten.shape == (3, 2, 3) and ten.max() <= 1023
    # Y = 1, Cb = -0.5, Cr = +0.5 lies outside the RGB cube: R = 1 + 1.5748 * 0.5 clips to 255,
    # B = 1 - 1.8556 * 0.5 = 0.0722 -> 18, G = (1 - 0.2126 R - 0.0722 B) / 0.7152 -> 219
    extreme = np.array([[[1023]], [[0]], [[1023]]], np.uint16)
    assert ycbcr_to_rgb(extreme, 10).tolist() == [[[255, 219, 18]]]


@pytest.mark.parametrize("bits", [8, 10])
def test_yuv_file_layout(tmp_path, bits):
    ycc = rgb_to_ycbcr(np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8), bits)
    path = tmp_path / "p.yuv"
    write_yuv(path, ycc, bits)
    raw = path.read_bytes()
    nbytes = 1 if bits == 8 else 2
    assert len(raw) == 3 * 5 * 7 * nbytes
    # planar Y, Cb, Cr; 16-bit samples little-endian
    second_plane_first = int.from_bytes(raw[35 * nbytes:36 * nbytes], "little")
    assert second_plane_first == ycc[1, 0, 0]
    np.testing.assert_array_equal(np.stack(read_yuv(path, 7, 5, bits)), ycc)


def test_read_yuv_rejects_wrong_size_and_depth(tmp_path):
    path = tmp_path / "p.yuv"
    write_yuv(path, np.zeros((3, 4, 4), np.uint16), 10)
    with pytest.raises(ValueError, match="expected"):
        read_yuv(path, 4, 5, 10)
    write_yuv(path, np.full((3, 4, 4), 4000, np.uint16), 16)
    with pytest.raises(ValueError, match="exceed 10 bits"):
        read_yuv(path, 4, 4, 10)


def test_420_resampling(tmp_path):
    rng = np.random.default_rng(1)
    ycc = rgb_to_ycbcr(rng.integers(0, 256, (6, 8, 3), np.uint8), 10)
    planes = subsample_420(ycc, 10)
    assert [p.shape for p in planes] == [(6, 8), (3, 4), (3, 4)]
    block = ycc[1, :2, :2].astype(float).mean()
    assert planes[1][0, 0] == np.round(block)
    write_yuv(tmp_path / "c.yuv", planes, 10)
    assert (tmp_path / "c.yuv").stat().st_size == 2 * (48 + 2 * 12)
    back = read_yuv(tmp_path / "c.yuv", 8, 6, 10, "420")
    assert [p.shape for p in back] == [(6, 8), (3, 4), (3, 4)]
    # a constant chroma plane stays constant; a linear ramp is reproduced away from the edges
    flat = upsample_420([ycc[0], np.full((3, 4), 300), np.full((3, 4), 700)])
    assert (flat[1] == 300).all() and (flat[2] == 700).all()
    ramp = np.tile(np.arange(16.0) * 10, (4, 1))
    half = ramp.reshape(2, 2, 8, 2).mean(axis=(1, 3))
    up = upsample_420([ramp, half, half])
    np.testing.assert_allclose(up[1][:, 1:-1], ramp[:, 1:-1])
