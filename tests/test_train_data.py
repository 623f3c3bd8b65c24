"""Training data: mask sources, crops and flips, splits (issue 5)."""
from pathlib import Path

import numpy as np
import pytest
from conftest import missing
import torch
from PIL import Image

from segpic.train.data import (TrainingCrops, ValidationCrops, find_images, fit_to_crop,
                               split_images)
from segpic.train.masks import (CocoPanopticFolder, Felzenszwalb, GeneratedMasks,
                                LabelMapFolder, MaskError, Slic, mask_source, relabel)


def save_labels(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint16)).save(path)


def save_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb.astype(np.uint8)).save(path)


def blocks(h=80, w=96, seed=0):
    """An image of four flat coloured quadrants (plus light noise) and its label map 1..4."""
    rng = np.random.default_rng(seed)
    labels = np.ones((h, w), np.int64)
    labels[h // 2:, :] += 1
    labels[:, w // 2:] += 2
    colours = rng.integers(0, 256, (5, 3))
    rgb = colours[labels] + rng.integers(-3, 4, (h, w, 3))
    return np.clip(rgb, 0, 255), labels


def test_relabel_gives_contiguous_ids_in_id_order():
    labels = np.array([[7, 7, 300], [65535, 300, 7]])
    assert relabel(labels).tolist() == [[0, 0, 1], [2, 1, 0]]
    assert relabel(np.full((3, 3), 42)).max() == 0


def test_label_map_folder_reads_16_bit_maps_by_stem(tmp_path):
    labels = np.array([[1, 1, 40000], [2, 65535, 2]])
    save_labels(tmp_path / "masks" / "a" / "img1.png", labels)
    source = LabelMapFolder(tmp_path / "masks")
    np.testing.assert_array_equal(source.label_map(tmp_path / "photos" / "img1.jpg"), labels)
    with pytest.raises(MaskError, match="no mask for image .*img2"):
        source.label_map(tmp_path / "img2.png")


def test_label_map_folder_refuses_rgb_and_duplicate_stems(tmp_path):
    save_rgb(tmp_path / "rgb" / "x.png", np.zeros((4, 4, 3)))
    with pytest.raises(MaskError, match="coco:DIR"):
        LabelMapFolder(tmp_path / "rgb").label_map(Path("x.png"))
    save_labels(tmp_path / "dup" / "a" / "x.png", np.ones((2, 2)))
    save_labels(tmp_path / "dup" / "b" / "x.png", np.ones((2, 2)))
    with pytest.raises(MaskError, match="two masks named x.png"):
        LabelMapFolder(tmp_path / "dup")
    with pytest.raises(MaskError, match="does not exist"):
        LabelMapFolder(tmp_path / "nowhere")


def test_coco_panoptic_rgb_encoding(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (1, 2, 3)      # 1 + 2*256 + 3*65536
    rgb[0, 1] = (1, 2, 4)      # differs only in B: must stay a separate segment
    rgb[1, :] = (255, 255, 255)
    save_rgb(tmp_path / "pan" / "im.png", rgb)
    ids = CocoPanopticFolder(tmp_path / "pan").label_map(Path("im.jpg"))
    assert ids[0, 0] == 1 + 2 * 256 + 3 * 65536
    assert ids[0, 1] == 1 + 2 * 256 + 4 * 65536
    assert ids[0, 2] == 0  # unlabeled
    assert ids[1, 0] == 256 ** 3 - 1
    assert relabel(ids).tolist() == [[1, 2, 0], [3, 3, 3]]  # unlabeled is region 0


class CountingGenerator(Felzenszwalb):
    calls = 0

    def __call__(self, rgb):
        CountingGenerator.calls += 1
        return super().__call__(rgb)


def test_felzenszwalb_masks_are_generated_once_and_cached(tmp_path):
    rgb, truth = blocks(64, 64)
    save_rgb(tmp_path / "data" / "a.png", rgb)
    source = GeneratedMasks(CountingGenerator(scale=100, min_size=20), tmp_path / "cache")
    source.prepare([tmp_path / "data" / "a.png"])
    cached = list((tmp_path / "cache").rglob("*.png"))
    assert len(cached) == 1 and cached[0].parent.name.startswith("felzenszwalb-")
    labels = source.label_map(tmp_path / "data" / "a.png")
    # each quadrant's interior is one region, four different ones (borders may form strips)
    interiors = [labels[r:r + 24, c:c + 24] for r in (4, 36) for c in (4, 36)]
    assert all(len(np.unique(part)) == 1 for part in interiors)
    assert len({int(part[0, 0]) for part in interiors}) == 4
    GeneratedMasks(CountingGenerator(scale=100, min_size=20), tmp_path / "cache").prepare(
        [tmp_path / "data" / "a.png"])
    assert CountingGenerator.calls == 1


def test_default_generators_give_tens_of_regions_on_photos(data_root):
    paths = sorted((data_root / "train" / "cid22" / "training").glob("*.png"))[:2]
    if not paths:
        missing("cid22 training images not found")
    for gen in (Felzenszwalb(), Slic()):
        counts = [len(np.unique(gen(np.asarray(Image.open(p).convert("RGB"))))) for p in paths]
        assert 10 <= np.median(counts) <= 100, (gen.tag, counts)


def test_mask_source_spellings(tmp_path):
    assert isinstance(mask_source("auto", tmp_path), GeneratedMasks)
    assert "slic" in mask_source("slic", tmp_path).cache_dir.name
    save_rgb(tmp_path / "pan" / "a.png", np.zeros((2, 2, 3)))
    assert isinstance(mask_source(f"coco:{tmp_path / 'pan'}"), CocoPanopticFolder)
    with pytest.raises(MaskError):
        mask_source(f"sam:{tmp_path / 'missing.pth'}")


def image_with_position_code(h, w):
    """R = x, G = y: every pixel tells where it came from."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x, y, np.zeros_like(x)], -1), y * w + x


def test_crop_and_flips_are_identical_for_image_and_mask(tmp_path):
    rgb, key = image_with_position_code(100, 120)
    save_rgb(tmp_path / "data" / "a.png", rgb)
    save_labels(tmp_path / "m" / "a.png", key)
    crops = TrainingCrops([tmp_path / "data" / "a.png"], LabelMapFolder(tmp_path / "m"), 64)
    seen_flips = set()
    for n in range(12):
        item = crops[n]
        img = (item["image"] * 255).round().long()
        x, y = img[0], img[1]
        assert item["image"].shape == (3, 64, 64) and item["mask"].dtype == torch.int64
        # the mask at each pixel is the (relabelled) position the image pixel came from
        expected = relabel((y * 120 + x).numpy())
        assert torch.equal(item["mask"], torch.from_numpy(expected))
        seen_flips.add((bool(x[0, 0] > x[0, -1]), bool(y[0, 0] > y[-1, 0])))
    assert len(seen_flips) == 4  # all flip combinations occur


def test_crops_are_a_function_of_seed_and_sample_number(tmp_path):
    for i in range(3):
        save_rgb(tmp_path / f"{i}.png", blocks(80, 96, seed=i)[0])
    paths = find_images(tmp_path)
    a, b = TrainingCrops(paths, None, 64, seed=1), TrainingCrops(paths, None, 64, seed=1)
    assert torch.equal(a[5]["image"], b[5]["image"]) and "mask" not in a[5]
    assert not torch.equal(a[5]["image"], TrainingCrops(paths, None, 64, seed=2)[5]["image"])
    # one epoch visits every image once: the first 3 samples come from 3 different images
    firsts = {a[n]["image"][:, 0, 0].mul(255).round().tolist().__str__() for n in range(3)}
    assert len(firsts) == 3


def test_small_images_are_resized_up_and_single_region_crops_work(tmp_path):
    save_rgb(tmp_path / "d" / "s.png", np.full((40, 50, 3), 90))
    save_labels(tmp_path / "m" / "s.png", np.full((40, 50), 7))
    item = TrainingCrops(find_images(tmp_path / "d"), LabelMapFolder(tmp_path / "m"), 64)[0]
    assert item["image"].shape == (3, 64, 64)
    assert item["mask"].shape == (64, 64) and item["mask"].max() == 0  # one region, id 0


def test_fit_to_crop_uses_nearest_for_labels():
    labels = np.array([[1, 2], [3, 40000]])
    image = Image.fromarray(np.zeros((2, 2, 3), np.uint8))
    big, big_labels = fit_to_crop(image, labels, 4)
    assert big.size == (4, 4)
    assert set(np.unique(big_labels)) == {1, 2, 3, 40000}
    same, same_labels = fit_to_crop(image, labels, 2)
    assert same is image and same_labels is labels


def test_split_uses_validation_folder_or_a_stable_hash(tmp_path):
    for name in ("training/a.png", "training/b.png", "validation/c.png"):
        save_rgb(tmp_path / "cid" / name, np.zeros((8, 8, 3)))
    train, val = split_images(tmp_path / "cid")
    assert [p.name for p in train] == ["a.png", "b.png"] and [p.name for p in val] == ["c.png"]

    for i in range(40):
        save_rgb(tmp_path / "flat" / "images" / f"{i}.png", np.zeros((8, 8, 3)))
        save_labels(tmp_path / "flat" / "masks" / f"{i}.png", np.zeros((8, 8)))
    train, val = split_images(tmp_path / "flat", 0.25)
    assert len(train) + len(val) == 40  # label maps under masks/ are not images
    assert 3 <= len(val) <= 20
    assert split_images(tmp_path / "flat", 0.25) == (train, val)
    with pytest.raises(MaskError, match="too few"):
        split_images(tmp_path / "cid" / "validation")


def test_validation_crops_are_centred(tmp_path):
    rgb, _ = image_with_position_code(100, 120)
    save_rgb(tmp_path / "v.png", rgb)
    x = ValidationCrops([tmp_path / "v.png"], 64)[0]
    assert x.shape == (3, 64, 64)
    assert round(float(x[0, 0, 0]) * 255) == 28 and round(float(x[1, 0, 0]) * 255) == 18
