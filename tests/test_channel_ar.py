"""ChannelAR is a latent codec that models compose: slice sizes, slice transforms and LRP are
its arguments, and the SegPIC-family models keep the reference state_dict names."""
import torch
import torch.nn as nn

from segpic import registry
from segpic.entropy.channel_ar import ChannelAR
from segpic.ops.deterministic import deterministic_inference


def _pointwise(in_channels: int, out_channels: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, 16, 1), nn.GELU(), nn.Conv2d(16, out_channels, 1))


def _code(codec: ChannelAR, y, mu, sigma):
    codec.eval()
    codec.gaussian_conditional.update_scale_table(torch.exp(torch.linspace(torch.log(torch.tensor(0.11)),
                                                                           torch.log(torch.tensor(256.0)), 64)))
    codec.gaussian_conditional.update()
    with deterministic_inference():
        y_hat, _ = codec(y, mu, sigma)
        strings = codec.compress(y, mu, sigma)
        decoded = codec.decompress(strings, mu, sigma)
    return y_hat, strings, decoded


def test_uneven_slices_custom_transform_without_lrp_code_exactly():
    torch.manual_seed(0)
    codec = ChannelAR(M=24, slice_sizes=[4, 8, 12], max_support_slices=-1, transform=_pointwise, lrp=False)
    assert not hasattr(codec, "lrp_transforms")
    assert [t[0].in_channels for t in codec.cc_mean_transforms] == [24, 28, 36]  # M + channels of earlier slices
    assert [t[-1].out_channels for t in codec.cc_scale_transforms] == [4, 8, 12]
    y, mu, sigma = (torch.randn(2, 24, 3, 5) * 4 for _ in range(3))
    y_hat, strings, decoded = _code(codec, y, mu, sigma)
    assert len(strings) == 2
    assert torch.equal(decoded, y_hat)
    expected = []  # without LRP, slice i is round(y_i - mu_i) + mu_i, mu_i from mu and all earlier slices
    with deterministic_inference():
        for i, y_slice in enumerate(y.split([4, 8, 12], dim=1)):
            mean = codec.cc_mean_transforms[i](torch.cat([mu, *expected], dim=1))
            expected.append(torch.round(y_slice - mean) + mean)
    assert torch.equal(y_hat, torch.cat(expected, dim=1))


def test_lrp_and_support_follow_the_arguments():
    torch.manual_seed(0)
    codec = ChannelAR(M=16, num_slices=4, max_support_slices=2, transform=_pointwise)
    assert [t[0].in_channels for t in codec.lrp_transforms] == [16 + 4, 16 + 8, 16 + 12, 16 + 12]
    y, mu, sigma = (torch.randn(1, 16, 4, 4) * 3 for _ in range(3))
    y_hat, _, decoded = _code(codec, y, mu, sigma)
    assert torch.equal(decoded, y_hat)


def test_models_compose_the_codec_and_keep_the_reference_names():
    for name in ("segpic", "wacnn", "stf"):
        model = registry.get(name).build("test")
        assert isinstance(model.latent_codec, ChannelAR)
        keys = list(model.state_dict())
        assert not any(k.startswith("latent_codec.") for k in keys)
        assert keys[0].startswith("cc_mean_transforms.0.") and "gaussian_conditional.scale_table" in keys
        # both spellings load: the reference's and the module tree's
        nested = {f"latent_codec.{k}" if k.startswith(("cc_", "lrp_", "gaussian_conditional.")) else k: v
                  for k, v in model.state_dict().items()}
        model.load_state_dict(nested)
        model.load_state_dict(model.state_dict())
