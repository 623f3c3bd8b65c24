"""SegPIC (Liu et al., ECCV 2024), its STF and WACNN baselines, and their codec.

Decoding is bit-exact only if the decoder's networks reproduce the encoder's floats, at any
thread count and on any x86-64 CPU with AVX2. Two process-wide settings must be in place
before the first tensor operation of the process, so they are made here, on import:

- ``ATEN_CPU_CAPABILITY=avx2``: ATen picks its vectorised kernels (GELU's erf, exp, GDN's
  sqrt, reductions) by CPU: AVX-512 kernels on CPUs that have it, AVX2 ones elsewhere, and
  they round differently (measured: the same SegPIC stream decoded to other pixels on an
  AVX-512 Intel CPU than on an AVX2 AMD one). ATen reads the variable once, at its first
  vectorised operation.
- ``MKL_CBWR=AUTO,STRICT``: MKL's conditional numerical reproducibility, read at MKL's first
  call. MKL computes every float GEMM and, through its vector math, torch's exp, log, tanh
  and erf (which build the entropy models' CDF tables). (On Intel CPUs STRICT also makes
  GEMMs thread-count invariant; on AMD CPUs MKL ignores it, so
  :func:`segpic.ops.deterministic.deterministic_inference` runs every GEMM single-threaded.)

Import ``segpic`` before running any torch operation (importing torch first is fine). A
setting made in the environment is kept; :func:`segpic.ops.deterministic.deterministic_inference`
refuses to run when ATen's capability in effect is not AVX2 or MKL's branch is not AUTO, rather
than produce streams that another machine decodes differently.
"""
import os

os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
os.environ.setdefault("ATEN_CPU_CAPABILITY", "avx2")

# compressai's package __init__ imports torch_geometric and torch._dynamo, which segpic never
# uses; import only the compressai modules segpic needs (see segpic/lean_compressai.py).
from segpic.lean_compressai import install as _install_lean_compressai  # noqa: E402

_install_lean_compressai()
