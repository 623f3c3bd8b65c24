"""The codec seam: the one interface every codec in ``bench run`` implements.

A codec turns an 8-bit RGB image into a real file at one quality, and turns that
file back into 8-bit RGB.  ``bench run`` times the two calls separately, reads the
file size for the bit rate, and never special-cases a codec.

Added after the first version (backward compatible, defaults keep old codecs working):
``prepare(quality)``, called untimed before each encode/decode, and ``group_qualities``.

Codec objects must be picklable (they are shipped to worker processes through a
``concurrent.futures.Executor``); heavy state such as a loaded network is created
lazily inside the worker, on first use.
"""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Dict, Sequence

import numpy as np


class CodecError(RuntimeError):
    """A codec could not be used (missing tool, bad option).  Reported in one line."""


class Codec(ABC):
    """Encode/decode 8-bit RGB images through files.

    Attributes:
        name: the registry name (``"jpeg"``, ``"segpic"`` ...).
        extension: the bitstream file extension, with the dot (``".jpg"``).
        default_qualities: the rate points ``bench run`` uses without ``--qualities``.
    """

    name: str = ""
    extension: str = ".bin"
    default_qualities: Sequence = ()
    #: Whether one task may code an image at all its qualities in a row.  Codecs with a
    #: model per quality set it False: ``bench run`` then orders work quality by quality.
    group_qualities: bool = True
    #: Where the codec computes (``bench run --device`` sets it on learned codecs): a row
    #: records it, and rows of another device kind are coded again.
    device: str = "cpu"

    @abstractmethod
    def version(self) -> str:
        """A version string that identifies the exact encoder (library + version)."""

    def prepare(self, quality) -> None:
        """Get ready to encode or decode at ``quality`` (e.g. load that rate's model).

        ``bench run`` calls it, untimed, before the timed ``encode`` and ``decode`` of each
        quality, so one-time set-up stays out of the timings; ``decode`` works at the
        last prepared quality.
        The default does nothing.
        """

    @abstractmethod
    def encode(self, rgb: np.ndarray, quality, path: Path) -> None:
        """Write ``rgb`` (H x W x 3, uint8) coded at ``quality`` to ``path``.

        Side files (logs) may be written next to ``path``, named from its stem.
        """

    @abstractmethod
    def decode(self, path: Path) -> np.ndarray:
        """Read the file at ``path`` and return the decoded H x W x 3 uint8 image."""

    def parse_quality(self, text: str):
        """Turn a ``--qualities`` token into this codec's quality value."""
        return int(text)

    def extra_columns(self, quality) -> Dict[str, str]:
        """Extra per-row result columns (e.g. ``checkpoint_sha`` for learned codecs; the
        default records that the codec runs on the CPU).  Known before coding (no model needs
        to be loaded), as they are part of :meth:`identity`."""
        return {"device": "cpu"}

    def identity(self, quality) -> Dict[str, str]:
        """The result columns that name exactly what codes ``quality``: the version (which
        spells out the stream-changing options: VTM input bits, VVenC preset ...) and the extra
        columns (the checkpoint's SHA-256).  ``bench run`` recodes a row that differs in any."""
        return {"codec_version": self.version(), **self.extra_columns(quality)}


_REGISTRY: Dict[str, Callable[..., Codec]] = {}


def register(name: str):
    """Class decorator: make a codec available to ``bench run --models NAME``."""

    def wrap(factory):
        _REGISTRY[name] = factory
        return factory

    return wrap


def available() -> Sequence[str]:
    return sorted(_REGISTRY)


def accepted_options(name: str) -> Sequence[str]:
    """The keyword options that codec ``name``'s constructor takes (e.g. ``vtm_dir``)."""
    if name not in _REGISTRY:
        raise CodecError(f"unknown codec '{name}'; known: {', '.join(available())}")
    return tuple(inspect.signature(_REGISTRY[name]).parameters)


def get_codec(name: str, **options) -> Codec:
    """Build the codec registered as ``name``; options are codec-specific keywords."""
    if name not in _REGISTRY:
        raise CodecError(f"unknown codec '{name}'; known: {', '.join(available())}")
    return _REGISTRY[name](**options)
