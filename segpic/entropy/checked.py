"""CompressAI's own models decoding through the checked rANS decoder (:mod:`segpic.entropy.rans`).

CompressAI's models decode with its C++ ``RansDecoder``, which reads past the end of a short or
crafted stream (see ``rans.py``).  Two seams route them through the checked decoder without
changing their code:

- every entropy model (``EntropyBottleneck``, ``GaussianConditional``, also inside latent codecs)
  decodes a whole stream per ``entropy_coder.decode_with_indexes`` call: :func:`guard_coders`
  replaces that coder by the checked one (isolated worker, range check, re-encoding check);
- the autoregressive models (``mbt2018``, ``cheng2020-*``) and the raster-scan latent codec
  create a ``RansDecoder`` and call ``set_stream``/``decode_stream`` pixel by pixel: inside
  :func:`checked_decoding` the name ``RansDecoder`` in those modules is a
  :class:`CheckedRansDecoder`, and every stream opened is checked for exact consumption when the
  block ends without error.
"""
from __future__ import annotations

import contextlib
import sys
from typing import List

import torch.nn as nn

from .rans import RansStream

__all__ = ["guard_coders", "checked_decoding", "CheckedRansDecoder"]

#: CompressAI modules that construct ``RansDecoder`` themselves.
_AR_MODULES = ("compressai.models.google", "compressai.latent_codecs.rasterscan")


def guard_coders(model: nn.Module) -> None:
    """Give every CompressAI entropy model of ``model`` the checked decoder (idempotent)."""
    from compressai.entropy_models import EntropyModel

    from .bottleneck import _CheckedCoder

    for module in model.modules():
        if isinstance(module, EntropyModel) and not isinstance(module.entropy_coder, _CheckedCoder):
            module.entropy_coder = _CheckedCoder(module.entropy_coder)


class CheckedRansDecoder:
    """compressai's ``RansDecoder`` interface (``set_stream``, ``decode_stream``) on a
    :class:`RansStream`; streams are collected by the enclosing :func:`checked_decoding`."""

    _opened: List[List[RansStream]] = []  # one list per active checked_decoding block

    def __init__(self):
        if not self._opened:
            raise RuntimeError("CheckedRansDecoder is used inside checked_decoding() only")
        self._stream = None

    def set_stream(self, data: bytes) -> None:
        self._stream = RansStream(data, name="latent (y) stream")
        self._opened[-1].append(self._stream)

    def decode_stream(self, indexes, cdfs, cdf_lengths, offsets):
        return self._stream.decode(indexes, cdfs, cdf_lengths, offsets)


@contextlib.contextmanager
def checked_decoding():
    """Within the block, CompressAI's autoregressive decoders are :class:`CheckedRansDecoder`;
    on a normal exit every stream they opened must have been consumed exactly
    (``StreamError`` otherwise).  Restores compressai's ``RansDecoder`` on exit."""
    modules = [sys.modules[name] for name in _AR_MODULES if name in sys.modules]
    saved = [(m, m.RansDecoder) for m in modules]
    opened: List[RansStream] = []
    CheckedRansDecoder._opened.append(opened)
    for m in modules:
        m.RansDecoder = CheckedRansDecoder
    ok = False
    try:
        yield
        ok = True
    finally:
        for m, original in saved:
            m.RansDecoder = original
        CheckedRansDecoder._opened.pop()
        for stream in opened:
            stream.close()
    if ok:
        for stream in opened:
            stream.finish()
