"""The side-by-side baseline of the speed benchmark (bench.perf.reference_segpic) is the same
codec in the authors' formulation: same streams, same reconstruction up to float order."""
import torch

from bench.perf.reference_segpic import reference_decode, reference_encode, to_reference
from segpic.layers.rat import RegionAdaptiveTransform
from segpic.models import SegPIC
from segpic.ops.deterministic import deterministic_inference


def _model():
    torch.manual_seed(0)
    m = SegPIC(N=16, M=32).eval()
    m.update(force=True)
    return m


def test_reference_formulation_codes_the_same_streams():
    ours, reference = _model(), to_reference(_model())
    assert type(reference.dyn_encoder) is not RegionAdaptiveTransform  # the formulation was swapped
    x = torch.rand(1, 3, 64, 128)
    expected = reference_encode(reference, x)
    with deterministic_inference():
        got = ours.compress(x)
        x_hat = ours.decompress(got["strings"], got["shape"])["x_hat"].clamp_(0, 1)
    assert got["strings"] == expected["strings"]
    torch.testing.assert_close(reference_decode(reference, expected), x_hat, rtol=0, atol=1e-5)
