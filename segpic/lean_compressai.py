"""Importing the parts of compressai that segpic uses without compressai's package ``__init__``.

compressai 1.2.8's ``__init__`` imports all its subpackages; its datasets and registry import
torch_geometric, which imports torch._dynamo and calls ``torch.jit.script`` twice (the two
"`torch.jit.script` is deprecated" FutureWarnings a user saw).  segpic needs only
``entropy_models``, ``layers``, ``ops``, ``ans``, ``models.base``/``models.utils`` and, for the
CompressAI architectures of the registry, ``models.google``/``waseda``/``sensetime`` and the
latent codecs these use.
Importing segpic.codec and the models this way peaked at 709 MB instead of 934 MB, in about
half the time (README, "Coding an image").

:func:`install` (called when segpic is imported, if compressai is not imported yet) puts
stand-ins for the packages ``compressai``, ``compressai.models``, ``compressai.latent_codecs`` and
``compressai.registry``
into ``sys.modules``.  Each has the real ``__path__`` and spec, so submodules import as usual;
the few names segpic takes from the packages themselves come from their defining submodules,
and a submodule asked for as an attribute (``from compressai import ans``) is imported alone;
any other missing attribute runs the real ``__init__`` into the stand-in (PEP 562
``__getattr__``), so ``import compressai; compressai.zoo`` or ``from compressai.models import
bmshj2018_factorized`` still work, at the full price.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["install"]

# package -> {name: submodule that defines it}: what segpic and compressai's own submodules
# take from the packages.
_CHEAP = {
    "compressai": {},
    "compressai.latent_codecs": {
        "LatentCodec": "compressai.latent_codecs.base",
        "ChannelGroupsLatentCodec": "compressai.latent_codecs.channel_groups",
        "CheckerboardLatentCodec": "compressai.latent_codecs.checkerboard",
        "GaussianConditionalLatentCodec": "compressai.latent_codecs.gaussian_conditional",
        "HyperLatentCodec": "compressai.latent_codecs.hyper",
        "HyperpriorLatentCodec": "compressai.latent_codecs.hyperprior",
    },
    "compressai.models": {
        "CompressionModel": "compressai.models.base",
        **{name: "compressai.models.google" for name in (
            "FactorizedPrior", "FactorizedPriorReLU", "ScaleHyperprior", "MeanScaleHyperprior",
            "JointAutoregressiveHierarchicalPriors")},
        "Cheng2020Anchor": "compressai.models.waseda", "Cheng2020Attention": "compressai.models.waseda",
    },
    # compressai.zoo.image holds the released weights' URLs; the zoo's __init__ imports video models
    "compressai.zoo": {},
    # the model files register their classes; registry/__init__ imports torch_geometric
    "compressai.registry": {"register_model": "compressai.registry.torch",
                            "register_module": "compressai.registry.torch"},
}


def _entropy_coder_functions(module: types.ModuleType) -> None:
    """compressai's ``get_entropy_coder``/``available_entropy_coders`` (its ``__init__`` defines
    them; entropy_models imports them): the default "ans" coder."""
    module.get_entropy_coder = lambda: "ans"
    module.available_entropy_coders = lambda: ["ans"] + (["rangecoder"] if importlib.util.find_spec("range_coder") else [])


def _stand_in(name: str) -> types.ModuleType:
    spec = importlib.util.find_spec(name)
    module = importlib.util.module_from_spec(spec)  # attributes only: __init__ does not run
    full = {"done": False}

    def __getattr__(attr):
        if attr in _CHEAP[name]:
            return getattr(importlib.import_module(_CHEAP[name][attr]), attr)
        if not attr.startswith("_") and importlib.util.find_spec(f"{name}.{attr}") is not None:
            return importlib.import_module(f"{name}.{attr}")  # a submodule (``from compressai import ans``)
        if not full["done"]:
            full["done"] = True
            spec.loader.exec_module(module)  # the real __init__, into this module
            if attr in module.__dict__:
                return module.__dict__[attr]
        raise AttributeError(f"module {name!r} has no attribute {attr!r}")

    module.__getattr__ = __getattr__
    return module


def install() -> bool:
    """Register the stand-ins unless compressai is already imported; True if installed."""
    if any(name in sys.modules for name in _CHEAP) or importlib.util.find_spec("compressai") is None:
        return False
    for name in _CHEAP:  # parents first: a subpackage's spec is found through its parent
        module = _stand_in(name)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    _entropy_coder_functions(sys.modules["compressai"])
    return True
