"""CompressAI's released weights as checkpoints: ``--checkpoint mbt2018-mean=compressai:1,2,3``.

The URLs are CompressAI 1.2.8's own (``compressai.zoo.image.model_urls``, MSE-trained
weights).  Each file name ends in the first hex digits of the file's SHA-256
(``mbt2018-mean-1-e522738d.pth.tar``); a download is accepted only when its hash starts with
them.  Files are cached (``$SEGPIC_CACHE/compressai/``, default ``~/.cache/segpic``): a cached
file is hashed again before use, a download goes to a temporary file in the cache folder that
is renamed only once verified, so an interrupted or corrupted download never stays.
``$SEGPIC_COMPRESSAI_URL`` replaces CompressAI's server (a mirror; the tests use a local one).

The files are state_dicts; they load with ``segpic.zoo.load_checkpoint`` (weights-only
unpickler) like any other checkpoint.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.request
from pathlib import Path
from typing import List, Optional, Sequence

from segpic import registry
from segpic.codec import file_sha256
from segpic.errors import CodecError

__all__ = ["PREFIX", "ENV_URL", "ENV_CACHE", "MAX_BYTES", "is_released", "released_url", "fetch", "resolve"]

PREFIX = "compressai:"
ENV_URL = "SEGPIC_COMPRESSAI_URL"
ENV_CACHE = "SEGPIC_CACHE"
#: Largest download accepted (CompressAI's largest image model is about 110 MB).
MAX_BYTES = 1 << 30
_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth(?:\.tar)?$")


def is_released(items: Sequence[str]) -> bool:
    """Whether a ``--checkpoint`` list asks for released weights (``compressai:Q1,Q2,...``)."""
    return bool(items) and str(items[0]).startswith(PREFIX)


def released_url(arch: str, quality: int, metric: str = "mse") -> str:
    """The URL of CompressAI's released weights of ``arch`` at ``quality``."""
    entry = registry.get(arch)
    if entry.zoo is None:
        raise CodecError(f"CompressAI releases no weights for {arch}; give checkpoint files")
    from compressai.zoo.image import model_urls

    urls = model_urls[entry.zoo][metric]
    if quality not in urls:
        raise CodecError(f"CompressAI releases {arch} at qualities {min(urls)}..{max(urls)}, not {quality}")
    url = urls[quality]
    mirror = os.environ.get(ENV_URL)
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[1]}" if mirror else url


def _cache_dir() -> Path:
    base = os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "segpic"
    return Path(base) / "compressai"


def fetch(url: str, cache: Optional[Path] = None, timeout: float = 60.0) -> Path:
    """The verified local copy of ``url`` (downloaded once into ``cache``)."""
    name = url.rsplit("/", 1)[1]
    expected = _HASH_IN_NAME.search(name)
    if expected is None:
        raise CodecError(f"{name}: no SHA-256 prefix in the file name, cannot verify it")
    prefix = expected.group(1)
    folder = Path(cache) if cache is not None else _cache_dir()
    path = folder / name
    if path.is_file():
        if file_sha256(path).startswith(prefix):
            return path
        path.unlink()  # a cached file that no longer verifies is fetched again
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
    try:
        h, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise CodecError(f"{url}: more than {MAX_BYTES} bytes, refused")
                h.update(chunk)
                out.write(chunk)
        if not h.hexdigest().startswith(prefix):
            raise CodecError(f"{url}: downloaded file's SHA-256 {h.hexdigest()[:12]}... does not start with {prefix}")
        os.replace(tmp, path)
        return path
    except (OSError, http.client.HTTPException) as e:  # URLError is an OSError
        raise CodecError(f"cannot download {url}: {getattr(e, 'reason', None) or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve(arch: str, items: Sequence[str], cache: Optional[Path] = None) -> List[Path]:
    """``["compressai:1", "2", "3"]`` -> the verified local files of those released qualities."""
    text = [str(items[0])[len(PREFIX):], *map(str, items[1:])]
    try:
        qualities = [int(q) for q in text]
    except ValueError:
        raise CodecError(f"{PREFIX}{','.join(text)}: expected {PREFIX}Q1,Q2,... with integer qualities") from None
    return [fetch(released_url(arch, q), cache) for q in qualities]
