"""Codecs for ``bench run``: importing this package registers every codec it can.

Classical and learned codecs are always registered; external-tool codecs (``vtm``,
``vvenc``) register when their module is present.
"""
import importlib

from . import classical, learned  # noqa: F401  (registration side effect)
from .base import Codec, CodecError, available, get_codec, register

for _optional in ("vtm", "vvenc"):
    try:
        importlib.import_module(f"{__name__}.{_optional}")
    except ModuleNotFoundError as _err:
        if _err.name != f"{__name__}.{_optional}":
            raise

__all__ = ["Codec", "CodecError", "available", "get_codec", "register"]
