"""Inference whose floats do not depend on the thread count, with bounded memory.

The decoder must reproduce the encoder's means and scales bit for bit, or the rANS decoder
reads other symbols; and decoding must reproduce the encoder-side reconstruction exactly.
PyTorch's default CPU convolutions (oneDNN) change their summation order with the number of
threads: measured, a SegPIC stream of kodim23 encoded with 1 thread decoded to garbage with
2, and 23 of the 67 convolution shapes of a SegPIC encode+decode give other bits with 2..16
threads than with 1 (every 1x1 convolution among them).

Inside :func:`deterministic_inference` every CPU float32 convolution goes to a formulation
whose result depends on the shapes only:

- ungrouped k x k convolutions (stride 1 or 2, 1x1 included) and transposed convolutions run
  as banded GEMMs (:mod:`segpic.ops.gemm_conv`): no full-size im2col matrix (3.3 GB for the
  second 5x5 convolution of a 2048x1344 image), faster than PyTorch's native path (measured:
  about 1.5x on the 1/4-scale maps, a few percent on the 1/16-scale ones), and their bands
  run in parallel (1x1 convolutions give the same bits as on the native path: the golden
  streams and the conformance vectors are unchanged);
- grouped convolutions (the RAT's kernel generator) run on PyTorch's native path (oneDNN off).

Both end in MKL's SGEMM, run single-threaded inside the context (MKL's thread-local count;
on AMD CPUs MKL's STRICT mode does not apply and its multi-threaded GEMMs change their bits
with the thread count, see :mod:`segpic.ops.threads`); the banded GEMMs run their bands in
parallel, one whole band per thread.

Across CPUs the context needs ATen's AVX2 kernels (``ATEN_CPU_CAPABILITY=avx2``, set by
``segpic/__init__.py`` before the first tensor operation): it raises
:class:`~segpic.ops.threads.PortabilityError` when another capability is in effect (a CPU
without AVX2, or a process whose first tensor operation ran before ``segpic`` was imported
with another setting), since its streams would decode differently elsewhere.

On CUDA the context turns TF32 off and cuDNN's deterministic algorithms on: with PyTorch's
default TF32 convolutions, SegPIC's and WACNN's reconstructions of the conformance vectors
were 0.01 to 0.03 away from the reference's and their latent streams differed (measured on
an H100); in full float32 the latent streams are byte-identical.
"""
import contextlib

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from . import gemm_conv
from .threads import PortabilityError, check_mkl_cnr, single_threaded_mkl

__all__ = ["deterministic_inference", "check_capability", "convolution_arguments", "REQUIRED_CAPABILITY"]

#: The ATen CPU capability every exact coder runs with (see ``segpic/__init__.py``).
REQUIRED_CAPABILITY = "AVX2"

_CONV2D = (torch.conv2d, F.conv2d)
_CONV_TRANSPOSE2D = (torch.conv_transpose2d, F.conv_transpose2d)


def _args(names, defaults, args, kwargs):
    """Positional + keyword arguments of a conv call as a dict of ``names``."""
    bound = dict(zip(names, defaults))
    bound.update(zip(names, args))
    bound.update(kwargs)
    return bound


def _plain(bound, x, weight) -> bool:
    """A CPU float32 call without groups or dilation, on a map of padding given as numbers."""
    return (
        x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
        and x.dim() == 4 and bound["groups"] == 1 and bound["dilation"] in (1, (1, 1), [1, 1])
        and not isinstance(bound["padding"], str)
    )


_CONV2D_PARAMETERS = (("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
                      (None, None, None, 1, 0, 1, 1))
_CONV_TRANSPOSE2D_PARAMETERS = (("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation"),
                                (None, None, None, 1, 0, 0, 1, 1))


def convolution_arguments(func, args, kwargs):
    """The arguments of a conv2d or conv_transpose2d call by parameter name, defaults filled
    in, plus ``transposed`` (bool); None when ``func`` is neither."""
    if func in _CONV2D:
        bound = _args(*_CONV2D_PARAMETERS, args, kwargs)
    elif func in _CONV_TRANSPOSE2D:
        bound = _args(*_CONV_TRANSPOSE2D_PARAMETERS, args, kwargs)
    else:
        return None
    bound["transposed"] = func in _CONV_TRANSPOSE2D
    return bound


class _GemmConvolutions(TorchFunctionMode):
    """Routes k x k conv2d, conv_transpose2d and linear calls to :mod:`segpic.ops.gemm_conv`."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.linear:
            b = _args(("input", "weight", "bias"), (None, None, None), args, kwargs)
            x, w = b["input"], b["weight"]
            # ATen's own linear computes a contiguous or 2-D input as one addmm, as the bands do
            # (a non-contiguous batched input as matmul + bias, other bits): only those are banded
            if (x.device.type == "cpu" and x.dtype == torch.float32 and w.dtype == torch.float32
                    and w.dim() == 2 and (x.dim() == 2 or (x.dim() > 2 and x.is_contiguous()))):
                return gemm_conv.linear(x, w, b["bias"])
        elif (b := convolution_arguments(func, args, kwargs)) is not None and _plain(b, b["input"], b["weight"]):
            x, w = b["input"], b["weight"]
            if b["transposed"]:
                if gemm_conv.transpose_supported(w, b["stride"], b["padding"]):
                    return gemm_conv.conv_transpose2d(x, w, b["bias"], b["stride"], b["padding"], b["output_padding"])
            elif b["stride"] in (1, 2, (1, 1), (2, 2), [1, 1], [2, 2]):
                return gemm_conv.conv2d(x, w, b["bias"], b["stride"], b["padding"])
        return func(*args, **kwargs)


_FLAGS = (  # (namespace, attribute, value inside the context)
    (torch.backends.mkldnn, "enabled", False),
    (torch.backends.cudnn, "allow_tf32", False),
    (torch.backends.cuda.matmul, "allow_tf32", False),
    (torch.backends.cudnn, "deterministic", True),
    (torch.backends.cudnn, "benchmark", False),
)


@contextlib.contextmanager
def deterministic_inference():
    """Inference mode, oneDNN convolutions off, ungrouped and transposed convolutions as banded
    GEMMs, single-threaded MKL in this thread; on CUDA, no TF32 and deterministic cuDNN. The
    flags are restored on exit. Raises :class:`PortabilityError` (a one-line ``CodecError``)
    when ATen's kernels are not the AVX2 ones or MKL's branch is not AUTO."""
    check_capability()
    saved = [(ns, name, getattr(ns, name)) for ns, name, _ in _FLAGS]
    for ns, name, value in _FLAGS:
        setattr(ns, name, value)
    try:
        with single_threaded_mkl(), torch.inference_mode(), _GemmConvolutions():
            yield
    finally:
        for ns, name, value in saved:
            setattr(ns, name, value)


def check_capability() -> None:
    """Raise :class:`PortabilityError` unless ATen runs its AVX2 kernels and MKL its
    reproducible AUTO branch in this process (both set by ``segpic/__init__.py``)."""
    check_mkl_cnr()
    capability = torch.backends.cpu.get_cpu_capability()
    if capability != REQUIRED_CAPABILITY:
        raise PortabilityError(
            f"exact coding needs ATen's {REQUIRED_CAPABILITY} kernels, this process uses {capability}: "
            "set ATEN_CPU_CAPABILITY=avx2 before the first torch operation (importing segpic first "
            "does it) on a CPU with AVX2")
