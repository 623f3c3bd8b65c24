"""Loading model weights: ``load_checkpoint(path, arch=None, device="cpu")`` is the one way in.

Accepted formats:
- the authors' training checkpoints: a dict holding ``state_dict`` (plus optimizer, scheduler,
  epoch, loss), or a raw state_dict; keys may carry DataParallel's ``module.`` prefix, entropy
  bottlenecks may use compressai-1.1 names ``_matrixK/_biasK/_factorK``, SegPIC's aliased
  ``basic_E.*/basic_D.*`` keys are accepted (they duplicate g_a*/g_s* tensors), and the
  entropy-model CDF buffers may have any size (they are rebuilt);
- CompressAI's: its zoo's released state_dicts and its training checkpoints (``state_dict``
  plus optimizer, ``aux_optimizer``, ``epoch`` ...), with the key renaming of its older
  releases (the registry entries' ``key_map``);
- the project's own checkpoints: a dict with ``model`` (a state_dict) and ``config``
  (``arch`` and the constructor kwargs, e.g. ``N``, ``M``).
Checkpoints without a config: the architecture is the first ``segpic.registry`` entry that
recognises the keys when ``arch`` is None, and its constructor kwargs (N, M, num_slices,
max_support_slices ...) come from the tensor shapes.

Loading never runs code from the file: checkpoints are unpickled by torch's weights-only
unpickler, which rebuilds tensors and plain containers and, beyond those, only the types in
``SAFE_GLOBALS`` (what the authors' checkpoints hold next to the weights: an
``argparse.Namespace`` of training arguments and numpy scalars). A file that names any other
global is refused. ``trust=True`` lifts the restriction (full pickle, which can execute
arbitrary code): only for a file from a source one trusts.
"""
import pickle
import re
from typing import Optional

import torch
import torch.nn as nn

from segpic import registry

__all__ = ["CheckpointError", "SAFE_GLOBALS", "load_checkpoint", "load_state_dict", "read_checkpoint"]

# Entropy-model buffers whose size depends on update(); any stored size is accepted.
_DYNAMIC_BUFFERS = ("_offset", "_quantized_cdf", "_cdf_length", "scale_table")
_OLD_EB_NAME = re.compile(r"\._(matrix|bias|factor)(\d+)$")
_EB_LIST = {"matrix": "matrices", "bias": "biases", "factor": "factors"}
_ALIAS_PREFIXES = ("basic_E.", "basic_D.")


def _safe_globals() -> list:
    """The non-tensor types a checkpoint may hold: training arguments (argparse.Namespace)
    and numpy scalars/arrays (e.g. a loss saved as numpy.float64).  Rebuilding them runs no
    code from the file."""
    import argparse

    import numpy as np

    dtypes = {type(np.dtype(t)) for t in "?bBhHiIlLqQefdgFDG"}
    return [argparse.Namespace, np.dtype, *sorted(dtypes, key=str), np.ndarray,
            np.core.multiarray.scalar, np.core.multiarray._reconstruct]


SAFE_GLOBALS = _safe_globals()
_UNSAFE_GLOBAL = re.compile(r"(?:Unsupported global|unsupported GLOBAL|GLOBAL) *:? *(\S+)")


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the requested architecture."""


def model_class(arch: str) -> type:
    """The network class of registry entry ``arch``."""
    try:
        return registry.get(arch).model_class()
    except registry.ArchitectureError as e:
        raise CheckpointError(str(e)) from e


def read_checkpoint(path, trust: bool = False) -> dict:
    """Unpickle ``path`` with the weights-only unpickler (``SAFE_GLOBALS`` allowed), or without
    restriction when ``trust``."""
    try:
        if trust:
            return torch.load(path, map_location="cpu", weights_only=False)
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = _UNSAFE_GLOBAL.search(str(e))
        what = f" ({found.group(1).rstrip('.,')})" if found else ""
        raise CheckpointError(
            f"{path}: refused: the checkpoint holds objects{what} that loading would have to run code for; "
            "load it with --trust-checkpoint (trust=True) only if you trust its source"
        ) from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from e
    except Exception as e:  # torch.load raises many types on damaged or foreign files
        text = str(e).strip().splitlines()
        raise CheckpointError(f"{path} is not a PyTorch checkpoint ({type(e).__name__}: {text[0] if text else ''})") from e


def normalize_keys(state_dict: dict) -> dict:
    """Reference key names -> this implementation's: strip ``module.``, rename compressai-1.1
    entropy-bottleneck parameters, drop SegPIC's basic_E/basic_D aliases."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if key.startswith(_ALIAS_PREFIXES):
            continue
        m = _OLD_EB_NAME.search(key)
        if m:
            key = f"{key[: m.start()]}.{_EB_LIST[m.group(1)]}.{m.group(2)}"
        out[key] = value
    return out


def infer_arch(state_dict: dict) -> str:
    """The first registry entry that recognises the keys (and shapes) of ``state_dict``."""
    arch = registry.recognize(state_dict)
    if arch is None:
        raise CheckpointError(f"cannot tell the architecture from the keys (first: {next(iter(state_dict), None)!r}); pass arch=")
    return arch


def infer_kwargs(arch: str, sd: dict) -> dict:
    """Constructor kwargs of a state_dict saved without a config (the registry entry's
    ``infer_kwargs``).  When the shapes that tell them are absent, the defaults are used, and
    loading then reports the keys that do not fit."""
    return registry.get(arch).infer_kwargs(sd)


def _first(keys, n=5) -> str:
    keys = sorted(keys)
    more = f" (+{len(keys) - n} more)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_state_dict(model: nn.Module, state_dict: dict, arch: str) -> None:
    """Strict load with a readable error naming the first offending keys."""
    own = model.state_dict()
    missing = own.keys() - state_dict.keys()
    unexpected = state_dict.keys() - own.keys()
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(own[k].shape)}"
        for k in sorted(own.keys() & state_dict.keys())
        if k.rsplit(".", 1)[-1] not in _DYNAMIC_BUFFERS and state_dict[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys: {_first(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_first(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch (checkpoint vs model): {_first(shapes, 3)}")
    if problems:
        raise CheckpointError(f"checkpoint does not fit architecture {arch!r}: " + "; ".join(problems))
    model.load_state_dict(state_dict)


def load_checkpoint(path, arch: Optional[str] = None, device="cpu", trust: bool = False) -> nn.Module:
    """Build the model stored at ``path`` in eval mode with entropy tables updated.

    ``trust``: unpickle without restriction, which runs whatever code the file names; only for
    a checkpoint from a trusted source whose extra objects the safe loader refuses.

    Raises CheckpointError when the file is not a checkpoint (or holds objects the safe loader
    refuses), the architecture is unknown or the tensors do not fit it.
    """
    ckpt = read_checkpoint(path, trust)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path}: not a checkpoint (a {type(ckpt).__name__})")
    config = {}
    if "model" in ckpt and "config" in ckpt:
        state_dict, config = ckpt["model"], dict(ckpt["config"])
    elif "state_dict" in ckpt:
        state_dict = ckpt["state_dict"]
    else:
        state_dict = ckpt
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"{path}: no state_dict of tensors found")
    state_dict = normalize_keys(state_dict)

    stored_arch = config.pop("arch", None)
    if arch is None:
        arch = stored_arch or infer_arch(state_dict)
    elif stored_arch is not None and stored_arch != arch:
        raise CheckpointError(f"{path} holds a {stored_arch!r} model, not {arch!r}")
    cls = model_class(arch)
    key_map = registry.get(arch).key_map
    if key_map is not None:
        state_dict = key_map(state_dict)
    kwargs = config if stored_arch is not None else infer_kwargs(arch, state_dict)
    try:
        model = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"cannot build {arch!r} with {kwargs}: {e}") from e
    load_state_dict(model, state_dict, arch)
    model.update(force=True)
    return model.to(device).eval()
