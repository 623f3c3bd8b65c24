"""SegPIC (Liu et al., ECCV 2024), its STF and WACNN baselines, and their codec.

Decoding is bit-exact only if the decoder's networks reproduce the encoder's floats at any
thread count.  MKL's GEMM (behind small convolutions and Linear layers) changes its summation
order with the number of threads unless strict conditional numerical reproducibility is on.
MKL reads this once, at its first call, so it is set here, before any tensor arithmetic of a
process that imports segpic; an explicit user setting is kept.
"""
import os

os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")
