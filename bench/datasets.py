"""Test image sets: where they live, how to fetch them, how to tell they are complete.

A dataset is a folder of images under the data root (``--data-root``, else the
``SEGPIC_DATA`` environment variable, else ``~/.cache/segpic-bench/data``).  Three are
registered (facts from shared/reference/rd/dataset_*.csv and the issue):

* ``kodak``: 24 PNGs of 768x512 (6 portrait), fetched one by one; each is checked by the
  MD5 of its decoded RGB pixels, so any lossless copy of the suite is accepted.
* ``clic2020-pro-valid``: the 41 CLIC 2020 professional validation images, from
  ``professional_valid_2020.zip`` (MD5 7111ee240435911db04dbc5f40d50272).
* ``tecnick-100``: TESTIMAGES OLD_SAMPLING, the 100 1200x1200 images of
  ``RGB/RGB_OR_1200x1200``.  The archive has no published checksum; the fetched set is
  checked by count and size instead.

Downloads go to ``<file>.part`` and resume from there; a file only gets its final name
once complete and verified, and an archive is unpacked into a temporary folder that is
renamed into place last, so a partial download never counts as present.  Any other
folder path names a dataset too: ``--dataset path/to/folder``.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tqdm import tqdm

from .errors import UserError
from .images import ImageReadError, list_images, load_rgb

DEFAULT_DATA_ROOT = Path("~/.cache/segpic-bench/data")

_KODAK_PIXEL_MD5 = dict(
    (f"kodim{i:02d}.png", md5)
    for i, md5 in enumerate(
        """f17f539336e1fe71bd28ba90157b91b3 4765dc6d94496a38af372f8ec07ad645 a55e6096105b082199996a511b3e055d
        1b587d34ecf0213a3fa7357660b70152 50f1d43a4ddfd0091797109bf3a29fc8 e0b262ddccea074beb11e605811d22f8
        a21ef695052bc9a6cfa00c2ac2a8f9d4 92ff26c4906fb8a3a5df49888fb074bc 3c5ed9abbb1f4d6cd228b999261a81ac
        432ca3b9026c58b838342b0d5e7d03ae 533fc5ec22929f05fe37fe996d1db8ec 2226c207edd7c74f14febc396a67b950
        ac707a042c0b1dbe63de3237e6e421b0 d6e9969772930746d2b56f99f7a39afd b2f5b393a58e06dbb57036582db59c0b
        7b60e16d0bf06e9865400862a123bf1b af66528626e473ce4c47f02f3fc88894 790d5ca05e8d35a568bd7c4511913ed8
        c9dca5fcde031736c5ddd0ba1c882231 50b3f28f8f598bbbc1b273a3a387b867 ac884f8fa782cb45aa75650c2444e7f4
        8affcc59520b68b2011dcc9d42f851ea c0656bfaceab3954fd46ff4af81a7a86 cd29089317cd16fb5ae6496061cfbf35""".split(),
        start=1,
    )
)


@dataclass(frozen=True)
class Download:
    """One file to download: its URL, its name on disk and its MD5 (``None``: unknown)."""

    url: str
    filename: str
    md5: Optional[str] = None


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Attributes:
        name: registry name.
        count: number of images in the complete set.
        downloads: what ``fetch`` downloads.
        archive_member: for archives, the folder inside the zip that holds the images
            (matched as a path suffix), else ``""``: the downloads are the images.
        pixel_md5: image name -> MD5 of its decoded RGB bytes, when known.
        size: required (width, height) of every image, when fixed.
        description: one line for ``datasets list``.
    """

    name: str
    count: int
    downloads: Tuple[Download, ...]
    archive_member: str = ""
    pixel_md5: Dict[str, str] = field(default_factory=dict)
    size: Optional[Tuple[int, int]] = None
    description: str = ""


REGISTRY: Dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "kodak",
            24,
            tuple(Download(f"http://r0k.us/graphics/kodak/kodak/{n}", n) for n in _KODAK_PIXEL_MD5),
            pixel_md5=_KODAK_PIXEL_MD5,
            description="Kodak Lossless True Color Image Suite, 24 x 768x512",
        ),
        DatasetSpec(
            "clic2020-pro-valid",
            41,
            (Download("https://data.vision.ee.ethz.ch/cvl/clic/professional_valid_2020.zip",
                      "professional_valid_2020.zip", "7111ee240435911db04dbc5f40d50272"),),
            archive_member="valid",
            description="CLIC 2020 professional validation, 41 images up to 2048 px",
        ),
        DatasetSpec(
            "tecnick-100",
            100,
            (Download("https://sourceforge.net/projects/testimages/files/OLD/OLD_SAMPLING/testimages.zip/download",
                      "testimages.zip"),),
            archive_member="RGB/RGB_OR_1200x1200",
            size=(1200, 1200),
            description="Tecnick TESTIMAGES (OLD_SAMPLING) RGB_OR_1200x1200, 100 x 1200x1200",
        ),
    )
}


def data_root(option: Optional[str] = None) -> Path:
    """The data root: ``option`` (``--data-root``), else ``$SEGPIC_DATA``, else the default."""
    chosen = option or os.environ.get("SEGPIC_DATA") or DEFAULT_DATA_ROOT
    return Path(chosen).expanduser()


def folder(name: str, root: Path) -> Path:
    """Where the registered dataset ``name`` lives under ``root``."""
    return Path(root) / name


def present_count(spec: DatasetSpec, root: Path) -> int:
    """How many of the dataset's images are in place (``.part`` files never count)."""
    where = folder(spec.name, root)
    if not where.is_dir():
        return 0
    if spec.pixel_md5:
        return sum((where / n).is_file() for n in spec.pixel_md5)
    return len(list_images(where))


def fetch_command(name: str, root: Path) -> str:
    return f"python -m bench datasets fetch {name} --data-root {root}"


def resolve(dataset: str, root: Path) -> Tuple[str, List[Path]]:
    """The name and image files of ``dataset``: a registered name or a folder path.

    Raises:
        UserError: a registered dataset is missing or incomplete, or the name is neither
            registered nor a folder, or the folder holds no images.
    """
    spec = REGISTRY.get(dataset)
    if spec is not None:
        have = present_count(spec, root)
        if have < spec.count:
            where = folder(spec.name, root)
            state = "not found" if have == 0 else f"incomplete ({have} of {spec.count} images)"
            raise UserError(f"dataset '{dataset}' {state} at {where}; fetch it with: {fetch_command(dataset, root)}")
        where = folder(spec.name, root)
        files = [where / n for n in spec.pixel_md5] if spec.pixel_md5 else list_images(where)
        return spec.name, files
    path = Path(dataset).expanduser()
    if not path.is_dir():
        raise UserError(f"unknown dataset '{dataset}': not a registered name ({', '.join(REGISTRY)}) nor a folder")
    files = list_images(path)
    if not files:
        raise UserError(f"no images (PNG, JPEG, ...) in folder {path}")
    return path.resolve().name, files


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pixel_md5(path: Path) -> str:
    """MD5 of an image's decoded 8-bit RGB samples (row-major, RGB interleaved)."""
    return hashlib.md5(load_rgb(path).rgb.tobytes()).hexdigest()


def download(url: str, dest: Path, md5: Optional[str] = None, quiet: bool = False) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, resuming a previous partial file.

    The server is asked for the missing byte range; one that ignores the request (status
    200, or ``file://``) makes the download start over.  ``dest`` appears only once the
    transfer is complete and its MD5, when given, matches.

    Raises:
        UserError: network failure (the ``.part`` file is kept for resuming) or a
            checksum mismatch (the ``.part`` file is deleted).
    """
    part = dest.with_name(dest.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            resumed = have > 0 and getattr(response, "status", None) == 206
            length = response.headers.get("Content-Length")
            total = (int(length) + (have if resumed else 0)) if length else None
            with open(part, "ab" if resumed else "wb") as out, tqdm(
                total=total, initial=have if resumed else 0, unit="B", unit_scale=True,
                desc=dest.name, disable=quiet, leave=False,
            ) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:  # the range starts at the end: already complete
            pass
        else:
            raise UserError(f"download of {url} failed: HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        raise UserError(f"download of {url} failed ({getattr(err, 'reason', err)}); run fetch again to resume") from None
    if md5 is not None and _md5(part) != md5:
        part.unlink()
        raise UserError(f"checksum mismatch for {url} (expected MD5 {md5}); the partial file was removed")
    os.replace(part, dest)
    return dest


def _extract(archive: Path, member: str, target: Path) -> int:
    """Unpack the images under folder ``member`` of a zip into ``target`` (flattened)."""
    suffix = "/" + member.strip("/") + "/"
    count = 0
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            inner = "/" + info.filename
            if info.is_dir() or suffix not in inner or "/" in inner.split(suffix, 1)[1]:
                continue
            name = Path(info.filename).name
            if name.startswith(".") or Path(name).suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            with zf.open(info) as src, open(target / name, "wb") as dst:
                shutil.copyfileobj(src, dst)
            count += 1
    return count


def verify(spec: DatasetSpec, where: Path) -> List[str]:
    """Problems with the images in ``where`` against ``spec`` (empty list: all good)."""
    problems = []
    files = [where / n for n in spec.pixel_md5] if spec.pixel_md5 else list_images(where)
    if len(files) != spec.count:
        problems.append(f"{len(files)} images, expected {spec.count}")
    for path in files:
        if not path.is_file():
            problems.append(f"{path.name}: missing")
            continue
        try:
            if spec.pixel_md5 and pixel_md5(path) != spec.pixel_md5[path.name]:
                problems.append(f"{path.name}: pixel checksum mismatch")
            elif spec.size is not None:
                rgb = load_rgb(path).rgb
                if (rgb.shape[1], rgb.shape[0]) != spec.size:
                    problems.append(f"{path.name}: {rgb.shape[1]}x{rgb.shape[0]}, expected {spec.size[0]}x{spec.size[1]}")
        except ImageReadError as err:
            problems.append(str(err))
    return problems


def fetch(name: str, root: Path, mirror: Optional[str] = None, quiet: bool = False) -> Path:
    """Download, verify and put in place the registered dataset ``name``.

    Args:
        mirror: a base URL (``http://``, ``file://`` ...) that replaces the registry's
            location: each download is then fetched from ``<mirror>/<filename>``.

    Returns the dataset folder.  Already-present, verified files are not fetched again.
    """
    spec = REGISTRY.get(name)
    if spec is None:
        raise UserError(f"unknown dataset '{name}'; registered: {', '.join(REGISTRY)}")
    where = folder(name, root)
    if present_count(spec, root) == spec.count:
        return where
    root.mkdir(parents=True, exist_ok=True)

    def url_of(d: Download) -> str:
        return f"{mirror.rstrip('/')}/{d.filename}" if mirror else d.url

    if not spec.archive_member:
        where.mkdir(exist_ok=True)
        for d in tqdm(spec.downloads, desc=f"fetch {name}", disable=quiet):
            dest = where / d.filename
            if dest.is_file():
                continue
            staged = download(url_of(d), where / (d.filename + ".download"), d.md5, quiet=True)
            if spec.pixel_md5:
                try:
                    ok = pixel_md5(staged) == spec.pixel_md5[d.filename]
                except ImageReadError:
                    ok = False
                if not ok:
                    staged.unlink()
                    raise UserError(f"{d.filename} from {url_of(d)} does not match the {name} checksum; not kept")
            os.replace(staged, dest)
        return where

    (d,) = spec.downloads
    archive = root / d.filename
    if not archive.is_file():
        download(url_of(d), archive, d.md5, quiet=quiet)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        _extract(archive, spec.archive_member, staging)
        problems = verify(spec, staging)
        if problems:
            raise UserError(f"{d.filename} does not hold the expected {name} images: {'; '.join(problems[:3])}")
        if where.exists():
            shutil.rmtree(where)
        os.replace(staging, where)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return where


# --- the ``datasets`` command -------------------------------------------------------


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    listing = sub.add_parser("list", help="show the registered datasets and whether they are present")
    listing.add_argument("--data-root", help="data folder (default: $SEGPIC_DATA or ~/.cache/segpic-bench/data)")
    listing.add_argument("--verify", action="store_true", help="also check every image (pixel checksums, sizes)")
    get = sub.add_parser("fetch", help="download and verify a dataset")
    get.add_argument("name", choices=sorted(REGISTRY))
    get.add_argument("--data-root", help="data folder (default: $SEGPIC_DATA or ~/.cache/segpic-bench/data)")
    get.add_argument("--mirror", help="base URL to download from instead of the original location")


def main(args) -> int:
    from tabulate import tabulate

    root = data_root(args.data_root)
    if args.action == "fetch":
        where = fetch(args.name, root, args.mirror)
        print(f"{args.name}: {REGISTRY[args.name].count} images verified in {where}")
        return 0
    rows = []
    for spec in REGISTRY.values():
        have = present_count(spec, root)
        state = "present" if have == spec.count else ("missing" if have == 0 else f"incomplete {have}/{spec.count}")
        if args.verify and have == spec.count:
            problems = verify(spec, folder(spec.name, root))
            state = "verified" if not problems else f"BAD: {problems[0]}"
        rows.append((spec.name, spec.count, state, folder(spec.name, root), spec.description))
    print(tabulate(rows, headers=("dataset", "images", "state", "folder", "what")))
    return 0
