"""Class-agnostic segmentation masks for training: where label maps come from.

SegPIC pools its prototypes per region of a class-agnostic mask during training only
(privileged information, spec section 3); at inference it pools on a grid.  A mask here is
an integer label map of shape (H, W): pixels with the same value form one region, the values
themselves mean nothing.  Every source answers ``source.label_map(image_path)`` for one
training image and returns a uint32/int64 numpy array of the image's size.

Sources:
  * :class:`LabelMapFolder`   label-map PNGs with the image's stem (8/16/32-bit grey, e.g. BSDS500)
  * :class:`CocoPanopticFolder` COCO panoptic PNGs, segment id = R + 256 G + 256^2 B
  * :class:`GeneratedMasks`   a generator (Felzenszwalb, SLIC, Segment Anything), run once per
                              image and cached on disk as 16/32-bit PNGs
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, Optional

import numpy as np
from PIL import Image
from tqdm import tqdm

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".tif", ".tiff", ".webp")


class MaskError(ValueError):
    """A mask source cannot be used or a mask is missing; the message is one line."""


def relabel(labels: np.ndarray) -> np.ndarray:
    """Map the ids present in ``labels`` to 0..K-1 in increasing id order.

    Args:
        labels: (H, W) integer label map, any ids.
    Returns:
        (H, W) int64 label map with contiguous ids; K = number of distinct ids.
    """
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(labels.shape).astype(np.int64)


def read_image(path: Path) -> Image.Image:
    """Open a training image as 8-bit RGB (grey and palette images are expanded)."""
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (OSError, SyntaxError) as err:
        raise MaskError(f"cannot read image {path}: {err}") from None


def _index_by_stem(root: Path, suffix: str = ".png") -> Dict[str, Path]:
    """All files below ``root`` with ``suffix``, keyed by stem; duplicate stems are an error."""
    if not root.is_dir():
        raise MaskError(f"mask folder {root} does not exist")
    index: Dict[str, Path] = {}
    for path in sorted(root.rglob(f"*{suffix}")):
        if path.stem in index:
            raise MaskError(f"mask folder {root} holds two masks named {path.stem}{suffix}: "
                            f"{index[path.stem]} and {path}")
        index[path.stem] = path
    if not index:
        raise MaskError(f"mask folder {root} holds no {suffix} files")
    return index


class MaskSource:
    """Gives the label map of a training image."""

    def label_map(self, image_path: Path) -> np.ndarray:
        """(H, W) integer label map for the image at ``image_path`` (same size as the image)."""
        raise NotImplementedError

    def prepare(self, image_paths: Iterable[Path]) -> None:
        """Check (and for generators: make) the masks of all images before training starts."""
        for path in image_paths:
            self._lookup(path)

    def _lookup(self, image_path: Path) -> Path:
        raise NotImplementedError

    def describe(self) -> Dict[str, str]:
        """A small JSON-able description stored in checkpoints."""
        raise NotImplementedError


class _FolderSource(MaskSource):
    """Masks stored as PNGs with the stem of their image, anywhere below ``root``."""

    kind = ""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.index = _index_by_stem(self.root)

    def _lookup(self, image_path: Path) -> Path:
        path = self.index.get(Path(image_path).stem)
        if path is None:
            raise MaskError(f"no mask for image {image_path} in {self.root} "
                            f"(expected {Path(image_path).stem}.png)")
        return path

    def describe(self) -> Dict[str, str]:
        return {"kind": self.kind, "root": str(self.root)}


class LabelMapFolder(_FolderSource):
    """Single-channel label-map PNGs (8, 16 or 32 bit), one per image with the same stem.

    BSDS500 ground truth in ``shared/data/train/bsds500/*/masks`` is of this form (16-bit,
    labels 1..K).
    """

    kind = "labels"

    def label_map(self, image_path: Path) -> np.ndarray:
        path = self._lookup(image_path)
        with Image.open(path) as im:
            if im.mode not in ("L", "I", "I;16", "I;16B", "I;16L", "P", "1"):
                raise MaskError(f"mask {path} is {im.mode}, not a single-channel label map "
                                f"(COCO panoptic PNGs need --masks coco:DIR)")
            return np.asarray(im).astype(np.int64)


class CocoPanopticFolder(_FolderSource):
    """COCO panoptic annotation PNGs: RGB-encoded segment ids, id = R + 256 G + 256^2 B.

    Category labels are ignored (class-agnostic, as in the reference); unlabeled pixels
    (0, 0, 0) have id 0 and so form a region of their own.  Unlike the reference, which keys
    segments with R 1e6 + G 1e3 + B in float32, ids here are exact integers, so segments that
    differ only slightly in colour never merge.
    """

    kind = "coco"

    def label_map(self, image_path: Path) -> np.ndarray:
        path = self._lookup(image_path)
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB")).astype(np.int64)
        return rgb[..., 0] + 256 * rgb[..., 1] + 256 * 256 * rgb[..., 2]


class Generator:
    """A segmentation algorithm: RGB uint8 (H, W, 3) -> (H, W) integer label map."""

    tag = ""  # names the algorithm and its parameters; part of the cache path

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Felzenszwalb(Generator):
    """Felzenszwalb-Huttenlocher graph segmentation (scikit-image).

    The defaults give tens of regions on a 512x512 photo (measured on ten CID22 and BSDS500
    images: 14 to 91 regions, median about 50; a 256x256 crop keeps about half).
    """

    def __init__(self, scale: float = 500.0, sigma: float = 0.8, min_size: int = 300):
        self.scale, self.sigma, self.min_size = scale, sigma, min_size
        self.tag = f"felzenszwalb-s{scale:g}-g{sigma:g}-m{min_size}"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        from skimage.segmentation import felzenszwalb

        return felzenszwalb(rgb, scale=self.scale, sigma=self.sigma, min_size=self.min_size)


class Slic(Generator):
    """SLIC superpixels (scikit-image): compact regions of roughly equal size."""

    def __init__(self, n_segments: int = 48, compactness: float = 10.0):
        self.n_segments, self.compactness = n_segments, compactness
        self.tag = f"slic-n{n_segments}-c{compactness:g}"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        from skimage.segmentation import slic

        return slic(rgb, n_segments=self.n_segments, compactness=self.compactness, start_label=0)


class SegmentAnything(Generator):
    """Segment Anything automatic masks, flattened to one label map.

    Masks are painted largest first, so smaller masks stay on top; pixels that no mask
    covers keep label 0 and form one region.  Needs the ``segment_anything`` package and a
    checkpoint file.
    """

    def __init__(self, checkpoint: Path, model_type: str = "vit_h", device: str = "cpu"):
        try:
            from segment_anything import SamAutomaticMaskGenerator, sam_model_registry
        except ImportError:
            raise MaskError("--masks sam:CKPT needs the segment_anything package, "
                            "which is not installed") from None
        checkpoint = Path(checkpoint)
        if not checkpoint.is_file():
            raise MaskError(f"Segment Anything checkpoint {checkpoint} does not exist")
        sam = sam_model_registry[model_type](checkpoint=str(checkpoint)).to(device)
        self.generate = SamAutomaticMaskGenerator(sam).generate
        digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:12]
        self.tag = f"sam-{model_type}-{digest}"

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        labels = np.zeros(rgb.shape[:2], dtype=np.int64)
        masks = sorted(self.generate(rgb), key=lambda m: m["area"], reverse=True)
        for k, m in enumerate(masks, start=1):
            labels[m["segmentation"]] = k
        return labels


class GeneratedMasks(MaskSource):
    """Masks made by a :class:`Generator` once per image and cached as PNGs.

    The cache file is ``cache_dir/<generator tag>/<image stem>-<sha256 of the image file>.png``,
    16-bit when the labels fit, else 32-bit; it is written atomically, so an interrupted
    :meth:`prepare` resumes where it stopped.
    """

    def __init__(self, generator: Generator, cache_dir: Path):
        self.generator = generator
        self.cache_dir = Path(cache_dir) / generator.tag

    def _lookup(self, image_path: Path) -> Path:
        digest = hashlib.sha256(Path(image_path).read_bytes()).hexdigest()[:16]
        return self.cache_dir / f"{Path(image_path).stem}-{digest}.png"

    def prepare(self, image_paths: Iterable[Path]) -> None:
        todo = [p for p in image_paths if not self._lookup(p).is_file()]
        for path in tqdm(todo, desc=f"masks ({self.generator.tag})", unit="img", disable=not todo):
            self._generate(path)

    def _generate(self, image_path: Path) -> np.ndarray:
        labels = relabel(self.generator(np.asarray(read_image(image_path))))
        target = self._lookup(image_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        array = labels.astype(np.uint16 if labels.max() < 2 ** 16 else np.int32)
        fd, tmp = tempfile.mkstemp(suffix=".png", dir=target.parent)
        os.close(fd)
        try:
            Image.fromarray(array).save(tmp, format="PNG")
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return labels

    def label_map(self, image_path: Path) -> np.ndarray:
        path = self._lookup(image_path)
        if not path.is_file():
            return self._generate(image_path)
        with Image.open(path) as im:
            return np.asarray(im).astype(np.int64)

    def describe(self) -> Dict[str, str]:
        return {"kind": "generated", "generator": self.generator.tag}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/segpic/masks`` (``~/.cache/segpic/masks`` without it)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "segpic" / "masks"


def mask_source(spec: str, cache_dir: Optional[Path] = None) -> MaskSource:
    """Build a mask source from its command-line spelling.

    ``auto`` or ``felzenszwalb``: generated Felzenszwalb masks; ``slic``: SLIC superpixels;
    ``sam:CKPT``: Segment Anything with that checkpoint; ``coco:DIR``: COCO panoptic PNGs;
    any other value: a folder of label-map PNGs.
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    if spec in ("auto", "felzenszwalb"):
        return GeneratedMasks(Felzenszwalb(), cache)
    if spec == "slic":
        return GeneratedMasks(Slic(), cache)
    if spec.startswith("sam:"):
        return GeneratedMasks(SegmentAnything(Path(spec[4:])), cache)
    if spec.startswith("coco:"):
        return CocoPanopticFolder(Path(spec[5:]))
    return LabelMapFolder(Path(spec))
