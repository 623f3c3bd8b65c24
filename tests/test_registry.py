"""segpic.registry is the one list of learned architectures: no other module of segpic/ or
bench/ names one, and an architecture registered at run time is usable everywhere."""
import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from segpic import registry  # before compressai: segpic imports only the compressai modules it uses

FactorizedPrior = registry.get("bmshj2018-factorized").model_class()

ROOT = Path(__file__).resolve().parents[1]

#: Files allowed to hold an architecture's name as a string, and why.  Model files and the
#: registry itself are where architectures are defined.
DEFINITIONS = {"segpic/registry.py"} | {str(p.relative_to(ROOT)) for p in (ROOT / "segpic" / "models").glob("*.py")}
NOT_ARCHITECTURES = {
    # (file, string): a use of the word that is not a list of architectures
    ("segpic/__main__.py", "segpic"): "the program's name",
    ("segpic/train/masks.py", "segpic"): "the cache folder ~/.cache/segpic",
    ("segpic/released.py", "segpic"): "the cache folder ~/.cache/segpic",
    ("bench/perf/edge_margins.py", "segpic"): "the registry's family field",
}
#: Published RD curves are named by the papers' and CompressAI's result files, not by the registry.
PUBLISHED = "bench/published.py"


def _string_constants(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_module_but_the_registry_names_an_architecture():
    names = set(registry.names())
    found = []
    for package in ("segpic", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel in DEFINITIONS or rel == PUBLISHED:
                continue
            for line, text in _string_constants(path):
                if text in names and (rel, text) not in NOT_ARCHITECTURES:
                    found.append(f"{rel}:{line}: {text!r}")
    assert not found, "architecture names outside segpic/registry.py:\n" + "\n".join(found)


def test_the_scan_sees_a_hand_written_list(tmp_path):
    """The scan finds the kind of list the registry replaced (a tuple of names)."""
    source = tmp_path / "m.py"
    source.write_text('ARCHS = ("segpic", "stf", "wacnn")\nPROG = "other"\n')
    assert [t for _, t in _string_constants(source) if t in registry.names()] == ["segpic", "stf", "wacnn"]


def test_every_entry_is_complete():
    for name, entry in registry.REGISTRY.items():
        assert entry.display and "paper" in entry.configs, name
        if entry.trains:
            assert {"paper", "small"} <= set(entry.configs), name
        model = entry.build("test")
        assert registry.name_of(model) == name
        sd = model.state_dict()
        recognised = [other for other, e in registry.REGISTRY.items() if registry.recognize(sd) and e.recognize(sd)]
        assert recognised == [name], f"{name}'s own state_dict is recognised as {recognised}"
        kwargs = entry.infer_kwargs(sd)
        assert type(entry.model_class()(**{**entry.test_config, **kwargs})).__name__ == type(model).__name__


class ToyCodec(FactorizedPrior):
    """A toy architecture for the test below: CompressAI's factorized prior with a marker buffer
    (a state_dict the registry's recognisers tell apart from bmshj2018-factorized's)."""

    def __init__(self, N, M):
        super().__init__(N, M)
        self.register_buffer("toy_marker", torch.ones(1))


TOY = registry.Architecture(
    name="toy-factorized", display="Toy", target=f"{__name__}:ToyCodec",
    recognize=lambda sd: "toy_marker" in sd,
    infer_kwargs=lambda sd: {"N": int(sd["g_a.0.weight"].shape[0]), "M": int(sd["g_a.6.weight"].shape[0])},
    configs={"paper": {"N": 8, "M": 12}, "small": {"N": 8, "M": 12}}, test_config={"N": 8, "M": 12},
    streams=lambda model: 1, shape=registry.latent_shape, family="compressai",
)


@pytest.fixture
def toy():
    from bench.codecs import base, learned

    registry.register(TOY)
    codecs = dict(base._REGISTRY)
    learned.register_architectures()
    try:
        yield TOY
    finally:
        registry.unregister(TOY.name)
        base._REGISTRY.clear()
        base._REGISTRY.update(codecs)


def test_a_registered_architecture_is_usable_without_other_edits(toy, tmp_path):
    """One register() call: the zoo loads and recognises it, the command line offers it, bench
    codes with it through the container, tables show its display name, training builds it."""
    from bench.codecs import get_codec
    from bench.curves import display_name
    from segpic.__main__ import build_parser
    from segpic.train.config import build_model, model_config
    from segpic.zoo import load_checkpoint

    torch.manual_seed(0)
    path = tmp_path / "toy.pth"
    torch.save(ToyCodec(N=8, M=12).state_dict(), path)  # a raw state_dict: arch and N inferred
    model = load_checkpoint(path)
    assert type(model) is ToyCodec and model.N == 8

    args = build_parser().parse_args(["encode", "a.png", "b.sgp", "--checkpoint", str(path), "--arch", toy.name])
    assert args.arch == toy.name

    codec = get_codec(toy.name, checkpoints=[str(path)])
    rgb = np.random.default_rng(0).integers(0, 256, (40, 70, 3), dtype=np.uint8)
    codec.encode(rgb, 1, tmp_path / "x.sgp")
    assert (tmp_path / "x.sgp").read_bytes()[6:6 + len(toy.name)] == toy.name.encode()
    assert codec.decode(tmp_path / "x.sgp").shape == rgb.shape
    assert display_name(toy.name) == "Toy"
    assert type(build_model(model_config(toy.name, "small"))) is ToyCodec


def test_building_every_architecture_keeps_compressai_lean():
    """No registry model pulls in compressai's package __init__ (torch_geometric, torch._dynamo and
    two deprecation warnings): ELIC's entropy models ask for ``compressai.ans`` as an attribute."""
    import subprocess
    import sys

    script = ("import sys, warnings; warnings.simplefilter('error', FutureWarning)\n"
              "from segpic import registry\n"
              "[registry.get(n).build('test') for n in reversed(registry.names())]\n"
              "assert not [m for m in sys.modules if m.startswith('torch_geometric')]\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
