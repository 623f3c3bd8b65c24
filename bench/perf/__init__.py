"""Benchmarks of the codecs themselves (speed, memory); scripts, not tests."""
