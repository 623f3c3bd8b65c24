"""segpic.zoo.load_checkpoint: reference, raw and project checkpoint formats, clear errors."""
import argparse

import pytest
import torch

from segpic.models import WACNN, SegPIC
from segpic.zoo import CheckpointError, load_checkpoint, normalize_keys

SMALL = {"N": 32, "M": 64}


def to_reference_format(state_dict, segpic=False):
    """Our state_dict as the authors' DataParallel training would save it."""
    out = {}
    for key, value in state_dict.items():
        for new, old in (("matrices", "_matrix"), ("biases", "_bias"), ("factors", "_factor")):
            if "entropy_bottleneck" in key and f".{new}." in key:
                head, idx = key.rsplit(f".{new}.", 1)
                key = f"{head}.{old}{idx}"
        out["module." + key] = value
    if segpic:  # the reference also registers its down/up blocks in two ModuleLists
        for alias, canon in (("basic_E.0", "g_a1.0"), ("basic_E.1", "g_a1.1"), ("basic_D.3", "g_s1.2")):
            for key, value in state_dict.items():
                if key.startswith(canon + "."):
                    out["module." + alias + key[len(canon):]] = value
    return out


@pytest.fixture(scope="module")
def small_models():
    torch.manual_seed(0)
    models = {"wacnn": WACNN(**SMALL), "segpic": SegPIC(**SMALL)}
    for m in models.values():
        m.update(force=True)  # stored CDF buffers then have non-empty sizes
        m.eval()
    return models


@pytest.mark.parametrize("arch", ["wacnn", "segpic"])
def test_reference_format_loads_and_infers_arch(arch, small_models, tmp_path):
    model = small_models[arch]
    path = tmp_path / "ref.pth.tar"
    torch.save({
        "epoch": 3, "loss": torch.tensor(1.5),
        "state_dict": to_reference_format(model.state_dict(), segpic=arch == "segpic"),
        "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4}]},
        "args": argparse.Namespace(lr=1e-4),  # not loadable with weights_only=True
    }, path)
    loaded = load_checkpoint(path)
    assert type(loaded) is type(model) and not loaded.training
    assert loaded.M == SMALL["M"] and loaded.N == SMALL["N"]
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded(x)["x_hat"], model(x)["x_hat"])
        assert loaded.compress(x)["strings"] == model.compress(x)["strings"]


def test_project_format_and_raw_state_dict(small_models, tmp_path):
    model = small_models["wacnn"]
    project = tmp_path / "ours.pt"
    torch.save({"model": model.state_dict(), "config": {"arch": "wacnn", **SMALL}}, project)
    assert isinstance(load_checkpoint(project), WACNN)
    raw = tmp_path / "raw.pt"
    torch.save(model.state_dict(), raw)
    assert isinstance(load_checkpoint(raw, arch="wacnn"), WACNN)
    with pytest.raises(CheckpointError, match="holds a 'wacnn' model, not 'segpic'"):
        load_checkpoint(project, arch="segpic")


def test_wrong_arch_names_offending_keys(small_models, tmp_path):
    path = tmp_path / "wacnn.pt"
    torch.save({"state_dict": small_models["wacnn"].state_dict()}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, arch="segpic")
    msg = str(err.value)
    assert "does not fit architecture 'segpic'" in msg
    assert "g_a." in msg or "g_a1." in msg  # the offending keys are named


def test_wrong_shape_names_the_key(small_models, tmp_path):
    sd = dict(small_models["wacnn"].state_dict())
    sd["h_a.0.bias"] = torch.zeros(7)
    path = tmp_path / "bad.pt"
    torch.save({"model": sd, "config": {"arch": "wacnn", **SMALL}}, path)
    with pytest.raises(CheckpointError, match=r"shape mismatch.*h_a\.0\.bias \(7,\)"):
        load_checkpoint(path)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="is not a PyTorch checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*No such file"):
        load_checkpoint(tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="unknown architecture"):
        torch.save({}, path)
        load_checkpoint(path, arch="nope")


def test_normalize_keys():
    sd = {"module.entropy_bottleneck_b._matrix3": 1, "module.basic_D.0.x": 2, "layers.0.downsample.w": 3}
    assert normalize_keys(sd) == {"entropy_bottleneck_b.matrices.3": 1, "layers.0.downsample.w": 3}


def test_reference_key_listings(shared_dir):
    """The default models have exactly the reference state_dict keys and parameter counts."""
    for arch, cls, count in (("wacnn", WACNN, 75_235_779), ("segpic", SegPIC, 83_503_971)):
        lines = (shared_dir / "spec" / f"{arch}_state_dict.txt").read_text().splitlines()
        if arch == "wacnn":
            keys = [ln.split()[1] for ln in lines if ln[:2] in ("P ", "B ")]
        else:
            keys = [ln.split("\t")[0] for ln in lines if ln.strip() and not ln.startswith("#")]
        model = cls()
        assert set(normalize_keys(dict.fromkeys(keys))) == set(model.state_dict())
        assert sum(p.numel() for p in model.parameters()) == count
