"""Learned codecs, one per ``segpic.registry`` entry: one trained checkpoint per rate point.

``bench run --models segpic --checkpoint segpic=q1.pth,q2.pth,...`` makes quality ``i``
(1-based) use the ``i``-th checkpoint.  Each quality's model is loaded once per worker
process, in :meth:`LearnedCodec.prepare`, outside the timed encode/decode calls, which
time exactly ``segpic.codec.ImageCodec.encode``/``decode`` (compress/decompress plus the
container) and the file write/read.  A worker keeps one model loaded at a time; ``bench
run`` orders learned work quality by quality so that each model loads once per worker.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

from segpic import registry, released
from segpic.errors import CodecError as SegpicCodecError
from segpic.devices import kind

from .base import Codec, CodecError, register

#: The one model this process holds, keyed by (checkpoint path, size, mtime, arch, device): copies
#: of a codec unpickled task by task in a worker share it, so each checkpoint loads once per worker.
_LOADED: dict = {}


def _load(path: Path, arch: str, device: str, trust: bool = False):
    """The ``ImageCodec`` of ``path`` on ``device``, loaded unless this process holds it already."""
    from segpic.codec import ImageCodec

    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, arch, device, trust)
    if key not in _LOADED:
        _LOADED.clear()  # free the previous rate's weights first
        _LOADED[key] = ImageCodec.from_checkpoint(path, arch=arch, device=device, trust=trust)
    return _LOADED[key]


class LearnedCodec(Codec):
    """A ``segpic.codec.ImageCodec`` per quality, built lazily from its checkpoint.

    Args:
        arch: the ``segpic.registry`` entry (also the codec's name).
        checkpoints: checkpoint paths, one per quality, lowest rate first; or
            ``["compressai:Q1", "Q2", ...]``: CompressAI's released weights of those qualities,
            downloaded, verified and cached (``segpic.released``).
        device: torch device for inference: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        trust_checkpoint: unpickle the checkpoints without restriction (can run code from them).
    """

    extension = ".sgp"  # segpic.fileformat container
    group_qualities = False

    def __init__(self, arch: str, checkpoints: Sequence[str] = (), device: str = "cpu", trust_checkpoint: bool = False):
        self.name = self.arch = arch
        if not checkpoints:
            raise CodecError(f"{self.name} needs trained weights: --checkpoint {self.name}=PATH[,PATH...]")
        if released.is_released(checkpoints):
            try:
                checkpoints = released.resolve(arch, checkpoints)
            except SegpicCodecError as e:
                raise CodecError(str(e)) from None
        self.checkpoints = [Path(p) for p in checkpoints]
        for path in self.checkpoints:
            if not path.is_file():
                raise CodecError(f"checkpoint not found: {path}")
        self.device = device
        self.trust_checkpoint = trust_checkpoint  # unrestricted unpickling (segpic.zoo.load_checkpoint's trust)
        self.default_qualities = tuple(range(1, len(self.checkpoints) + 1))
        self._quality = None
        self._model = None
        self._shas = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state.update(_quality=None, _model=None)  # workers load their own model
        return state

    def parse_quality(self, text):
        quality = int(text)
        if not 1 <= quality <= len(self.checkpoints):
            raise CodecError(f"{self.name} quality {quality} out of range: {len(self.checkpoints)} checkpoint(s) given")
        return quality

    def version(self):
        from importlib.metadata import version

        return f"segpic-bench {version('segpic-bench')} {self.arch}"

    def prepare(self, quality):
        if self._quality == quality:
            return
        self._model = None  # free the previous rate's weights first
        model = _load(self.checkpoints[quality - 1], self.arch, self.device, self.trust_checkpoint)
        planned = self._shas.get(quality)  # hashed where the run was planned (the client of a cluster)
        if planned is not None and model.checkpoint_sha != planned:
            raise CodecError(f"{self.checkpoints[quality - 1]} here is not the file the run was planned with "
                             f"(SHA-256 {model.checkpoint_sha[:12]}..., planned {planned[:12]}...)")
        self._model = model
        self._quality = quality

    def _active(self, quality=None):
        if quality is not None:
            self.prepare(quality)
        if self._model is None:
            raise CodecError(f"{self.name}: no quality prepared before decoding")
        return self._model

    def encode(self, rgb, quality, path):
        Path(path).write_bytes(self._active(quality).encode(rgb))

    def decode(self, path):
        return self._active().decode(Path(path).read_bytes())

    def extra_columns(self, quality):
        """The SHA-256 of ``quality``'s checkpoint file (hashed once, without loading it),
        and the kind of device the model runs on (``cpu`` or ``cuda``)."""
        if quality not in self._shas:
            from segpic.codec import file_sha256

            self._shas[quality] = file_sha256(self.checkpoints[quality - 1])
        return {"checkpoint_sha": self._shas[quality], "device": kind(self.device)}


def register_architectures() -> None:
    """A learned codec for every registry entry (call again after registering an architecture
    at run time)."""
    for name in registry.names():
        register(name)(functools.partial(LearnedCodec, name))


register_architectures()
