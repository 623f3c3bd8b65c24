"""Codecs for ``bench run``: importing this package registers every codec."""
from . import classical, learned, vtm, vvenc  # noqa: F401  (registration side effect)
from .base import Codec, CodecError, accepted_options, available, get_codec, register

__all__ = ["Codec", "CodecError", "accepted_options", "available", "get_codec", "register"]
