"""SegPIC (Liu et al., ECCV 2024), its STF and WACNN baselines, and their codec.

Decoding is bit-exact only if the decoder's networks reproduce the encoder's floats at any
thread count.  MKL's GEMM (behind small convolutions and Linear layers) changes its summation
order with the number of threads unless strict conditional numerical reproducibility is on.
MKL reads this once, at its first call, so it is set here, before any tensor arithmetic of a
process that imports segpic; an explicit user setting is kept.
"""
import os

os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

# compressai's package __init__ imports torch_geometric and torch._dynamo, which segpic never
# uses; import only the compressai modules segpic needs (see segpic/lean_compressai.py).
from segpic.lean_compressai import install as _install_lean_compressai  # noqa: E402

_install_lean_compressai()
