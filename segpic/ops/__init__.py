"""Numerical building blocks of inference: convolutions as banded GEMMs and the
deterministic-inference context that routes a model's convolutions to them."""
