"""Training and validation crops from an image folder, with their segmentation masks.

Randomness is a pure function of (seed, sample number): sample ``n`` of a run is always
the same image, crop and flips, whatever the number of loader workers and whether the run
was interrupted and resumed.  Epochs are permutations of the training images.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from .masks import IMAGE_SUFFIXES, MaskError, MaskSource, read_image, relabel

VALIDATION_FOLDERS = ("validation", "val", "valid")
MASK_FOLDER = "masks"


def find_images(root: Path) -> List[Path]:
    """Image files below ``root``, sorted; folders named ``masks`` (label maps) are skipped."""
    root = Path(root)
    if not root.is_dir():
        raise MaskError(f"data folder {root} does not exist")
    return sorted(p for p in root.rglob("*")
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and MASK_FOLDER not in p.relative_to(root).parts[:-1])


def split_images(root: Path, val_fraction: float = 0.1) -> Tuple[List[Path], List[Path]]:
    """Training and validation images of a data folder.

    A subfolder named ``validation``, ``val`` or ``valid`` is the validation set (CID22's
    layout).  Without one, a fixed ``val_fraction`` of the images is held out, chosen by a
    hash of each image's path relative to ``root`` (stable across machines and runs).
    """
    root = Path(root)
    images = find_images(root)
    val_dirs = [root / d for d in VALIDATION_FOLDERS if (root / d).is_dir()]
    if val_dirs:
        val = [p for p in images if any(d in p.parents for d in val_dirs)]
    else:
        val = [p for p in images if _unit_hash(p.relative_to(root).as_posix()) < val_fraction]
    train = [p for p in images if p not in set(val)]
    if not train or not val:
        raise MaskError(f"data folder {root} has {len(images)} images: too few for a "
                        f"training set and a validation set")
    return train, val


def _unit_hash(text: str) -> float:
    """A number in [0, 1) fixed by ``text``."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16) / 16 ** 12


def fit_to_crop(image: Image.Image, labels: Optional[np.ndarray], crop: int):
    """Resize an image (and its label map) up so both sides are at least ``crop``.

    As the reference does: the new size is (max(W, crop), max(H, crop)), aspect ratio not
    kept, LANCZOS for the image and NEAREST for the labels.  Larger images are unchanged.
    """
    w, h = image.size
    size = (max(w, crop), max(h, crop))
    if size == (w, h):
        return image, labels
    image = image.resize(size, Image.LANCZOS)
    if labels is not None:
        labels = np.asarray(Image.fromarray(labels.astype(np.int32))
                            .resize(size, Image.NEAREST)).astype(np.int64)
    return image, labels


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(255)


class TrainingCrops(Dataset):
    """Random square crops with random horizontal and vertical flips.

    Item ``n`` (any sample number >= 0) is a dict with ``image`` (3, crop, crop) float in
    [0, 1] and, with a mask source, ``mask`` (crop, crop) int64 with ids 0..K-1 relabelled
    inside the crop.  Image and mask get the same crop and flips.
    """

    def __init__(self, paths: Sequence[Path], masks: Optional[MaskSource], crop: int,
                 seed: int = 0):
        self.paths, self.masks, self.crop, self.seed = list(paths), masks, crop, seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, n: int) -> Dict[str, torch.Tensor]:
        epoch, k = divmod(int(n), len(self.paths))
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))
        path = self.paths[order[k]]
        rng = np.random.default_rng([self.seed, epoch, k, 1])

        labels = self.masks.label_map(path) if self.masks is not None else None
        image = read_image(path)
        _check_mask_size(path, image, labels)
        image, labels = fit_to_crop(image, labels, self.crop)
        pixels = np.asarray(image)
        top = int(rng.integers(0, pixels.shape[0] - self.crop + 1))
        left = int(rng.integers(0, pixels.shape[1] - self.crop + 1))
        flip_h, flip_v = rng.random(2) < 0.5
        window = (slice(top, top + self.crop), slice(left, left + self.crop))
        pixels = _flip(pixels[window], flip_h, flip_v)
        item = {"image": to_tensor(pixels)}
        if labels is not None:
            item["mask"] = torch.from_numpy(relabel(_flip(labels[window], flip_h, flip_v)))
        return item


def _check_mask_size(path: Path, image: Image.Image, labels: Optional[np.ndarray]) -> None:
    if labels is not None and labels.shape != (image.height, image.width):
        raise MaskError(f"mask of {path} is {labels.shape[1]}x{labels.shape[0]}, "
                        f"the image is {image.width}x{image.height}")


def _flip(array: np.ndarray, horizontal: bool, vertical: bool) -> np.ndarray:
    if horizontal:
        array = array[:, ::-1]
    if vertical:
        array = array[::-1]
    return array


class ValidationCrops(Dataset):
    """Centre crops (crop x crop) of the validation images, as the reference's test loader.

    Item ``i`` is a dict with ``image`` (3, crop, crop) float in [0, 1] and, with a mask
    source, ``mask`` (crop, crop) int64, the same centre crop of the label map relabelled
    0..K-1 (for validation with mask prototypes, as the authors validate).
    """

    def __init__(self, paths: Sequence[Path], crop: int, masks: Optional[MaskSource] = None):
        self.paths, self.crop, self.masks = list(paths), crop, masks

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> Dict[str, torch.Tensor]:
        path = self.paths[i]
        image = read_image(path)
        labels = self.masks.label_map(path) if self.masks is not None else None
        _check_mask_size(path, image, labels)
        image, labels = fit_to_crop(image, labels, self.crop)
        pixels = np.asarray(image)
        top = (pixels.shape[0] - self.crop) // 2
        left = (pixels.shape[1] - self.crop) // 2
        window = (slice(top, top + self.crop), slice(left, left + self.crop))
        item = {"image": to_tensor(pixels[window])}
        if labels is not None:
            item["mask"] = torch.from_numpy(relabel(labels[window]))
        return item


class FullImages(Dataset):
    """Whole images (e.g. a few Kodak-size ones) for validation as inference sees them.

    Items are (3, H, W) float tensors in [0, 1] of each image's own size (batch size 1).
    """

    def __init__(self, paths: Sequence[Path]):
        self.paths = list(paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return to_tensor(np.array(read_image(self.paths[i])))  # a writable copy for torch
