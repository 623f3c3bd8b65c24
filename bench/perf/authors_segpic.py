"""The authors' own SegPIC code, run from a checkout of their repository, for side-by-side timing.

    git clone https://github.com/GityuxiLiu/SegPIC-for-Image-Compression
    git -C SegPIC-for-Image-Compression checkout 2049d42

The repository vendors a modified compressai (``SegPIC-main/compressai``) whose compiled
modules are built for Python 3.7/3.8 and whose package imports things inference never uses.
:func:`import_authors_compressai` makes it importable here, only inside the calling process:

- ``compressai.ans`` and ``compressai._CXX``: the compiled modules of the installed compressai
  1.2.8 (the same rANS coder and ``pmf_to_quantized_cdf``), loaded from their files under the
  vendored package's names;
- ``panopticapi.utils.rgb2id`` (imported by their COCO dataset class) and ``timm.models.layers``
  (``DropPath``, ``to_2tuple``, ``trunc_normal_``; drop-path is off at inference): stand-ins;
- ``PIL.Image.ANTIALIAS`` (removed in Pillow 10): an alias of ``LANCZOS``.

The worker runs as a script (``python bench/perf/authors_segpic.py --worker SPEC``), not as
``-m bench...``: importing the ``bench`` package imports ``segpic``, which installs its own
compressai modules and pins ATen's kernels and MKL's branch. Nothing of ``segpic`` is
imported in that process, so the authors' code runs with PyTorch's
defaults (oneDNN convolutions, ATen's best kernels, MKL's own threading), as their users run
it. The weights are ours, converted to their state_dict format by :func:`authors_state_dict`
(in the parent process) and loaded with ``torch.load(weights_only=True)``.

Used by ``bench.perf.codec_speed --reference-dir PATH`` (variant ``authors``).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import re
import sys
import types
from pathlib import Path

__all__ = ["authors_state_dict", "import_authors_compressai", "authors_ops", "vendored_package", "time_operation",
           "AuthorsCodeError"]

_NEW_EB_NAME = re.compile(r"\.(matrices|biases|factors)\.(\d+)$")
_EB_OLD = {"matrices": "matrix", "biases": "bias", "factors": "factor"}


class AuthorsCodeError(RuntimeError):
    """The checkout at --reference-dir cannot be used (one line)."""


def vendored_package(reference_dir) -> Path:
    """The directory holding the authors' vendored ``compressai`` package inside a checkout."""
    root = Path(reference_dir)
    for candidate in (root / "SegPIC-main", root):
        if (candidate / "compressai" / "models" / "sac.py").is_file():
            return candidate
    raise AuthorsCodeError(f"{reference_dir}: not a checkout of GityuxiLiu/SegPIC-for-Image-Compression "
                           "(no SegPIC-main/compressai/models/sac.py)")


def authors_state_dict(model) -> dict:
    """Our SegPIC's state_dict in the authors' key format: entropy bottlenecks as compressai
    1.1's ``_matrixK/_biasK/_factorK``, and the ``basic_E``/``basic_D`` aliases of the outer
    blocks (the same tensors as ``g_a1.0``, ``g_a1.1``, ``g_a2.0``, ``g_a2.1`` and
    ``g_s0.1``, ``g_s0.2``, ``g_s1.1``, ``g_s1.2``). The entropy models' CDF buffers are left
    out: ``update(force=True)`` rebuilds them."""
    out = {}
    for key, value in model.state_dict().items():
        if key.rsplit(".", 1)[-1] in ("_offset", "_quantized_cdf", "_cdf_length", "scale_table"):
            continue
        m = _NEW_EB_NAME.search(key)
        if m:
            key = f"{key[: m.start()]}._{_EB_OLD[m.group(1)]}{m.group(2)}"
        out[key] = value.detach().clone()
    aliases = {"basic_E.0.": "g_a1.0.", "basic_E.1.": "g_a1.1.", "basic_E.2.": "g_a2.0.", "basic_E.3.": "g_a2.1.",
               "basic_D.0.": "g_s0.1.", "basic_D.1.": "g_s0.2.", "basic_D.2.": "g_s1.1.", "basic_D.3.": "g_s1.2."}
    for alias, source in aliases.items():
        for key in [k for k in out if k.startswith(source)]:
            out[alias + key[len(source):]] = out[key]
    return out


def _module(name: str, **attrs) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


def _load_extension(name: str, path: str) -> types.ModuleType:
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[name] = module
    return module


def import_authors_compressai(reference_dir):
    """Import the authors' vendored compressai with the stand-ins above; returns its
    ``models`` module. Changes this process's ``sys.modules`` and ``sys.path``: call it only
    in a process of its own, before anything imports the installed compressai."""
    if "compressai" in sys.modules:
        raise AuthorsCodeError("compressai is already imported in this process; the authors' copy needs a fresh one")
    package_dir = vendored_package(reference_dir)
    installed = importlib.util.find_spec("compressai")
    if installed is None or not installed.submodule_search_locations:
        raise AuthorsCodeError("the authors' code needs compressai 1.2.8's compiled ans module (pip install compressai==1.2.8)")
    site_dir = Path(list(installed.submodule_search_locations)[0])
    compiled = {}
    for name in ("ans", "_CXX"):
        found = [p for p in site_dir.glob(f"{name}.*") if p.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))]
        if not found:
            raise AuthorsCodeError(f"no compiled compressai.{name} for this Python under {site_dir}")
        compiled[name] = str(found[0])

    import torch.nn as nn
    import torch.nn.init as init
    from PIL import Image

    if not hasattr(Image, "ANTIALIAS"):
        Image.ANTIALIAS = Image.LANCZOS

    def rgb2id(color):  # panopticapi.utils.rgb2id, used only by their COCO training set
        import numpy as np

        color = np.asarray(color, dtype=np.uint32)
        return color[..., 0] + 256 * color[..., 1] + 256 * 256 * color[..., 2]

    class DropPath(nn.Identity):  # drop-path is the identity at inference
        def __init__(self, drop_prob=0.0, *args, **kwargs):
            super().__init__()

    def to_2tuple(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    _module("panopticapi")
    _module("panopticapi.utils", rgb2id=rgb2id)
    _module("timm")
    _module("timm.models")
    _module("timm.models.layers", DropPath=DropPath, to_2tuple=to_2tuple, trunc_normal_=init.trunc_normal_)
    for name, path in compiled.items():
        _load_extension(f"compressai.{name}", path)
    sys.path.insert(0, str(package_dir))
    import compressai

    for name in compiled:
        setattr(compressai, name, sys.modules[f"compressai.{name}"])
    if not Path(compressai.__file__).resolve().is_relative_to(package_dir.resolve()):
        raise AuthorsCodeError(f"imported {compressai.__file__}, not the authors' copy under {package_dir}")
    return importlib.import_module("compressai.models")


def authors_ops(reference_dir, weights_path):
    """encode(rgb) -> bytes and decode(bytes) -> rgb of the authors' SegPIC with the weights
    at ``weights_path`` (from :func:`authors_state_dict`): their ``compress``/``decompress``
    on the image zero-padded to a multiple of 64 as their evaluation does (centred), the
    'bytes' being their strings pickled by us (pickle.loads only ever reads what encode
    wrote in the same run)."""
    import pickle

    import numpy as np
    import torch
    import torch.nn.functional as F

    models = import_authors_compressai(reference_dir)
    model = models.SegPIC()
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    dynamic = ("_offset", "_quantized_cdf", "_cdf_length", "scale_table")
    missing = [k for k in own if k not in state and k.rsplit(".", 1)[-1] not in dynamic]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise AuthorsCodeError(f"weights do not fit the authors' SegPIC: missing {missing[:3]}, unexpected {unexpected[:3]}")
    # their load_state_dict override expects the CDF buffers; update(force=True) rebuilds them
    torch.nn.Module.load_state_dict(model, state, strict=False)
    model.eval()
    model.update(force=True)

    def encode(rgb: np.ndarray) -> bytes:
        x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() / 255
        H, W = x.shape[-2:]
        dh, dw = (-H) % 64, (-W) % 64
        x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        with torch.no_grad():
            out = model.compress(x)
        return pickle.dumps((out["strings"], tuple(out["shape"]), (H, W)))

    def decode(data: bytes) -> np.ndarray:
        strings, shape, (H, W) = pickle.loads(data)
        with torch.no_grad():
            x_hat = model.decompress(strings, torch.Size(shape))["x_hat"].clamp_(0, 1)
        dh, dw = x_hat.shape[-2] - H, x_hat.shape[-1] - W
        x_hat = x_hat[..., dh // 2: dh // 2 + H, dw // 2: dw // 2 + W]
        return (x_hat[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()

    return encode, decode


def time_operation(spec: dict, encode, decode) -> dict:
    """Time ``spec["runs"]`` encodes (then write the stream to ``spec["bitstream"]``) or decodes
    (of that stream) of the image ``spec["image"]`` (an .npy), as ``spec["op"]`` says; returns
    the median seconds, the process's peak RSS before (``load_mib``) and after (``peak_mib``)
    the operation, and the stream's size. Shared by both workers of ``codec_speed``."""
    import resource
    import statistics
    import time

    import numpy as np

    rgb = np.load(spec["image"])
    load_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # high-water mark before the operation
    times, cpu = [], []
    if spec["op"] == "encode":
        for _ in range(spec["runs"]):
            t0, c0 = time.perf_counter(), time.process_time()
            data = encode(rgb)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        Path(spec["bitstream"]).write_bytes(data)
        decoded = None
    else:
        data = Path(spec["bitstream"]).read_bytes()
        for _ in range(spec["runs"]):
            t0, c0 = time.perf_counter(), time.process_time()
            decoded = decode(data)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        if spec.get("decoded"):
            np.save(spec["decoded"], np.asarray(decoded))
    return {
        "seconds": statistics.median(times),
        # CPU seconds of this process (not of a rANS worker): with 1 thread, what a quiet
        # machine's wall time would be, whatever the load
        "cpu_seconds": statistics.median(cpu),
        "load_mib": load_kib / 1024,  # ru_maxrss is in KiB on Linux
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bytes": len(data),
    }


def main(argv=None) -> int:
    """``--worker SPEC``: one timed operation of the authors' code (see ``codec_speed``)."""
    import argparse
    import json

    p = argparse.ArgumentParser(prog="authors_segpic.py")
    p.add_argument("--worker", required=True, help="JSON spec from bench.perf.codec_speed")
    spec = json.loads(p.parse_args(argv).worker)
    import torch

    torch.set_num_threads(spec["threads"])
    try:
        encode, decode = authors_ops(spec["reference_dir"], spec["weights"])
    except AuthorsCodeError as e:
        print(f"authors_segpic: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(time_operation(spec, encode, decode)))
    return 0


if __name__ == "__main__":
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]  # run as a script: bench/perf's modules must not shadow what their code imports
    sys.exit(main())
