"""STF (SymmetricalTransFormer): reference state_dict layout, reference-format checkpoints,
the drop-path schedule, and exact decoding on a small configuration."""
import argparse
import importlib.util

import pytest
import torch

from segpic.models.stf import STF
from segpic.zoo import load_checkpoint, normalize_keys

SMALL = dict(embed_dim=8, depths=(2, 2, 2, 2), num_heads=(1, 1, 2, 2), N=32, num_slices=2, max_support_slices=1)


@pytest.fixture(scope="module")
def reference_stf():
    return STF()


def test_reference_state_dict_layout(shared_dir, reference_stf):
    """Every key and shape of the reference listing (compressai-1.1 names), no other, and
    the reference parameter count."""
    listed = {}
    for line in (shared_dir / "spec" / "stf_state_dict.txt").read_text().splitlines():
        if line[:2] in ("P ", "B "):
            _, key, shape = line.split(" ", 2)
            listed[key] = tuple(int(v) for v in shape.rsplit(" ", 1)[0].strip("()").split(",") if v.strip())
    listed = normalize_keys(listed)
    own = {k: tuple(v.shape) for k, v in reference_stf.state_dict().items()}
    assert own.keys() == listed.keys()
    dynamic = ("_offset", "_quantized_cdf", "_cdf_length", "scale_table")  # sized by update()
    assert {k: s for k, s in own.items() if not k.endswith(dynamic)} == {
        k: s for k, s in listed.items() if not k.endswith(dynamic)
    }
    assert sum(p.numel() for p in reference_stf.parameters()) == 99_855_639


def test_drop_path_schedule(reference_stf):
    """0 -> 0.2 over the 12 analysis blocks; the synthesis cuts the same schedule by its
    reversed depths [2, 6, 2, 2]."""
    rates = torch.linspace(0, 0.2, 12).tolist()
    enc = [b.drop_path.p for stage in reference_stf.layers for b in stage.blocks]
    dec = [b.drop_path.p for stage in reference_stf.syn_layers for b in stage.blocks]
    assert enc == rates and dec == rates
    assert [len(s.blocks) for s in reference_stf.syn_layers] == [2, 6, 2, 2]
    assert [s.blocks[0].attn.num_heads for s in reference_stf.syn_layers] == [24, 12, 6, 3]


def test_reference_checkpoint_with_module_prefix(shared_dir, tmp_path):
    """The authors' DataParallel checkpoint layout (``module.`` prefix, compressai-1.1
    entropy-bottleneck names, optimizer state, pickled args) loads with the architecture
    inferred and reproduces the reference forward pass of the conformance vector."""
    conf = shared_dir / "conformance"
    spec = importlib.util.spec_from_file_location("weights_rule", conf / "weights_rule.py")
    rule = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rule)
    fixed = torch.load(conf / "stf" / "fixed.pt", weights_only=False)
    vec = torch.load(conf / "stf" / "vectors_a.pt", weights_only=False)
    sd = rule.build_state_dict(fixed["fixed"], fixed["keys"], fixed["aliases"], vec["seed"])
    assert any("._matrix0" in k for k in sd)  # the old names are really exercised
    path = tmp_path / "checkpoint_best_loss.pth.tar"
    torch.save({
        "epoch": 99,
        "state_dict": {"module." + k: v for k, v in sd.items()},
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]},
        "args": argparse.Namespace(lambda_=0.0483),
    }, path)
    model = load_checkpoint(path)
    assert isinstance(model, STF) and not model.training
    with torch.no_grad():
        out = model(vec["x"])
    assert (out["x_hat"] - vec["grid_forward"]["x_hat"]).abs().max() <= 1e-3
    for name, bits in vec["grid_forward"]["bits"].items():
        got = float(-torch.log2(out["likelihoods"][name]).sum())
        assert abs(got - bits) <= 1e-3 * bits, name


def test_small_stf_decodes_to_clamped_forward():
    """compress/decompress reproduce forward's reconstruction (clamped), bit for bit."""
    torch.manual_seed(0)
    model = STF(**SMALL).eval()
    model.update(force=True)
    x = torch.rand(1, 3, 128, 192)
    with torch.no_grad():
        fwd = model(x)
        enc = model.compress(x)
        dec = model.decompress(enc["strings"], enc["shape"])
    assert fwd["x_hat"].shape == x.shape
    assert fwd["likelihoods"]["y"].shape == (1, 64, 8, 12) and fwd["likelihoods"]["z"].shape == (1, 32, 2, 3)
    assert enc["shape"] == [2, 3] and [len(s) for s in enc["strings"]] == [1, 1]
    assert torch.equal(dec["x_hat"], fwd["x_hat"].clamp(0, 1))


def test_training_mode_uses_stochastic_depth_and_trains():
    torch.manual_seed(0)
    model = STF(**SMALL).train()
    x = torch.rand(2, 3, 64, 64)
    a, b = model(x), model(x)
    assert not torch.equal(a["x_hat"], b["x_hat"])
    a["x_hat"].mean().backward()
    assert model.patch_embed.proj.weight.grad is not None


def test_stf_needs_four_stages():
    with pytest.raises(ValueError, match="four"):
        STF(depths=(2, 2, 2))
