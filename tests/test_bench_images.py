"""bench.images: every PNG/JPEG flavour becomes 8-bit RGB, with a note saying what changed."""
import numpy as np
import imagecodecs
import pytest
from PIL import Image

from bench.images import ImageReadError, list_images, load_rgb


def _save(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    return path


def test_rgb_png_is_loaded_unchanged_without_note(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (5, 7, 3), dtype=np.uint8)
    loaded = load_rgb(_save(tmp_path, "a.png", Image.fromarray(rgb)))
    assert loaded.note == ""
    assert loaded.rgb.dtype == np.uint8 and np.array_equal(loaded.rgb, rgb)


def test_grayscale_is_replicated_to_three_channels(tmp_path):
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    loaded = load_rgb(_save(tmp_path, "g.png", Image.fromarray(gray, "L")))
    assert "grayscale" in loaded.note and "\n" not in loaded.note
    assert loaded.rgb.shape == (4, 5, 3)
    assert all(np.array_equal(loaded.rgb[:, :, c], gray) for c in range(3))


def test_rgba_drops_alpha_keeping_colour_samples(tmp_path):
    rgba = np.random.RandomState(1).randint(0, 256, (6, 3, 4), dtype=np.uint8)
    loaded = load_rgb(_save(tmp_path, "a.png", Image.fromarray(rgba, "RGBA")))
    assert "RGBA" in loaded.note
    assert np.array_equal(loaded.rgb, rgba[:, :, :3])


def test_palette_is_expanded(tmp_path):
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[:2] = (255, 0, 0)
    rgb[2:] = (0, 0, 255)
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    loaded = load_rgb(_save(tmp_path, "p.png", pal))
    assert "palette" in loaded.note
    assert np.array_equal(loaded.rgb, rgb)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_16bit_png_is_rounded_to_8_bits(tmp_path, channels):
    shape = (3, 4) if channels == 1 else (3, 4, channels)
    samples = np.random.RandomState(2).randint(0, 65536, shape).astype(np.uint16)
    path = tmp_path / "deep.png"
    path.write_bytes(imagecodecs.png_encode(samples))
    loaded = load_rgb(path)
    assert loaded.note.startswith("16-bit")
    colour = samples[:, :, None].repeat(3, 2) if channels == 1 else samples[:, :, :3]
    expected = np.rint(colour / 65535.0 * 255.0).astype(np.uint8)
    assert np.array_equal(loaded.rgb, expected)


@pytest.mark.parametrize("size", [(1, 1), (63, 65)])
def test_odd_sizes_load(tmp_path, size):
    h, w = size
    rgb = np.random.RandomState(3).randint(0, 256, (h, w, 3), dtype=np.uint8)
    assert load_rgb(_save(tmp_path, "odd.png", Image.fromarray(rgb))).rgb.shape == (h, w, 3)


def test_jpeg_loads(tmp_path):
    rgb = np.full((16, 16, 3), 128, np.uint8)
    loaded = load_rgb(_save(tmp_path, "x.jpg", Image.fromarray(rgb)))
    assert loaded.rgb.shape == (16, 16, 3) and loaded.note == ""


@pytest.mark.parametrize("content", [b"", b"not an image", b"\x89PNG\r\n\x1a\n\x00\x00"])
def test_unreadable_file_raises_one_line_error(tmp_path, content):
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(ImageReadError) as err:
        load_rgb(path)
    assert "bad.png" in str(err.value) and "\n" not in str(err.value)


def test_truncated_png_is_unreadable(tmp_path, data_root):
    data = (data_root / "kodak" / "kodim01.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError):
        load_rgb(path)


def test_list_images_takes_image_files_sorted(tmp_path):
    for name in ("b.png", "a.JPG", "notes.txt", "c.png.part"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]


def _png_header_only(path, width, height, bit_depth, colour_type=2):
    """A PNG whose IHDR declares ``width x height`` with one tiny IDAT (a bomb's shape)."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_image_above_the_pixel_limit_is_refused_before_decoding(tmp_path, bit_depth):
    """30000 x 30000 (900 M pixels): refused from the header by both readers, in one line."""
    path = _png_header_only(tmp_path / "bomb.png", 30000, 30000, bit_depth)
    with pytest.raises(ImageReadError) as err:
        load_rgb(path)
    message = str(err.value)
    assert "bomb.png" in message and "30000x30000" in message and "--max-pixels" in message
    assert "\n" not in message


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_the_pixel_limit_is_an_argument(tmp_path, bit_depth):
    samples = np.random.RandomState(4).randint(0, 2 ** bit_depth, (20, 30, 3))
    path = tmp_path / "small.png"
    path.write_bytes(imagecodecs.png_encode(samples.astype(np.uint8 if bit_depth == 8 else np.uint16)))
    assert load_rgb(path, max_pixels=600).rgb.shape == (20, 30, 3)
    with pytest.raises(ImageReadError, match="20 = 600 pixels|30x20"):
        load_rgb(path, max_pixels=599)


def test_pillow_formats_get_the_same_limit(tmp_path):
    path = _save(tmp_path, "x.bmp", Image.fromarray(np.zeros((40, 50, 3), np.uint8)))
    with pytest.raises(ImageReadError, match="50x40"):
        load_rgb(path, max_pixels=1999)
    assert load_rgb(path, max_pixels=2000).rgb.shape == (40, 50, 3)


def test_a_limit_above_pillows_own_is_honoured(tmp_path, monkeypatch):
    """Raising --max-pixels is not undone by Pillow's decompression-bomb check."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow errors above 200 pixels
    path = _save(tmp_path, "x.bmp", Image.fromarray(np.zeros((20, 30, 3), np.uint8)))
    assert load_rgb(path, max_pixels=600).rgb.shape == (20, 30, 3)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_16bit_conversion_equals_the_float_rounding_for_every_value():
    from bench.images import to_8bit

    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    expected = np.rint(values.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    assert np.array_equal(to_8bit(values, rows=7), expected)


def test_16bit_conversion_of_real_16bit_files_is_unchanged(data_root):
    """The 16-bit BSDS500 masks: the same 8-bit image as the float64 conversion gave."""
    masks = sorted((data_root / "train" / "bsds500").rglob("masks/*.png"))[:20]
    deep = [p for p in masks if p.read_bytes()[24] == 16]
    if not deep:
        pytest.skip("no 16-bit PNG in the shared data")
    for path in deep:
        samples = imagecodecs.png_decode(path.read_bytes())
        expected = np.rint(samples.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
        assert np.array_equal(load_rgb(path).rgb, np.repeat(expected[:, :, None], 3, axis=2))
