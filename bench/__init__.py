"""segpic-bench: codecs, datasets, metrics, BD-rate, tables and plots around SegPIC."""
import segpic  # noqa: F401  (sets MKL's reproducibility mode before any tensor arithmetic)
