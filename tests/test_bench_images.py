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
