"""WACNN on a small configuration: forward, training step, exact coding."""
import torch

from segpic.models import WACNN


def test_wacnn_small_forward_train_and_coding():
    torch.manual_seed(0)
    m = WACNN(N=32, M=64)
    x = torch.rand(2, 3, 64, 64)
    out = m(x)
    assert set(out["likelihoods"]) == {"y", "z"}
    assert out["likelihoods"]["y"].shape == (2, 64, 4, 4) and out["likelihoods"]["z"].shape == (2, 32, 1, 1)
    bpp = sum((-torch.log2(v)).sum() for v in out["likelihoods"].values()) / (2 * 64 * 64)
    (bpp + torch.mean((out["x_hat"] - x) ** 2)).backward()
    assert m.latent_codec.cc_mean_transforms[1][0].weight.grad is not None

    m.update(force=True)
    m.eval()
    with torch.no_grad():
        enc = m.compress(x)
        dec = m.decompress(enc["strings"], enc["shape"])
        ref = m(x)["x_hat"].clamp(0, 1)
    assert len(enc["strings"]) == 2 and all(len(s) == 2 for s in enc["strings"])
    assert torch.equal(dec["x_hat"], ref)
    assert m.compress(x)["strings"] == enc["strings"]


def test_slices_default_to_32_channels():
    assert WACNN(N=32, M=96).latent_codec.num_slices == 3
    assert len(WACNN(N=32, M=64, num_slices=4, max_support_slices=-1).latent_codec.lrp_transforms) == 4
