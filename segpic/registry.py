"""The one list of learned architectures: every other place reads it.

An :class:`Architecture` entry says, once, what the rest of the project needs to know about a
network: where its class is (``"module:Class"``, imported lazily), its display name, how to
recognise a checkpoint of it and rebuild its constructor arguments from tensor shapes, its
named configurations (``paper``; ``small`` for training on a CPU), a tiny test configuration,
its stream layout (how many entropy-coded streams ``compress`` returns and the ``shape`` that
``decompress`` needs for a padded image), whether it trains, and where CompressAI publishes
its weights.  ``segpic.zoo`` (loading), ``segpic.codec`` (containers), ``python -m segpic``
(``--arch``), ``segpic.train`` (``--arch``, ``--config``), and in ``bench`` the learned codecs,
display names, golden weights, regression set and speed scripts all iterate :data:`REGISTRY`.

Adding an architecture: a model file (or a CompressAI class) plus one :func:`register` call.
This module imports neither torch nor the models, so command lines can list the choices fast.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

__all__ = ["Architecture", "ArchitectureError", "REGISTRY", "register", "unregister", "get", "names", "trainable",
           "golden", "recognize", "name_of"]


class ArchitectureError(ValueError):
    """An unknown or unavailable architecture; the message is one line."""


def hyper_shape(model, height: int, width: int) -> Tuple[int, int]:
    """``compress()``'s shape for hyperprior models: the hyper-latent z, 1/64 of each side."""
    return height // 64, width // 64


def latent_shape(model, height: int, width: int) -> Tuple[int, int]:
    """``compress()``'s shape for a factorized prior: the latent y, 1/16 of each side."""
    return height // 16, width // 16


def class_streams(model) -> int:
    """Streams of the SegPIC family: the model class says (``num_streams``)."""
    return model.num_streams


@dataclass(frozen=True)
class Architecture:
    """One learned architecture.

    Attributes:
        name: the name everywhere (``--arch``, ``--models``, containers, result rows), ASCII.
        display: the name in tables and plots (``"SegPIC"``).
        target: ``"module:Class"`` of the network, imported on first use.
        recognize: ``state_dict -> bool``, whether a checkpoint without a stored config holds
            this architecture (keys already normalised by ``segpic.zoo.normalize_keys``).
            Entries are tried in registration order; the first match wins.
        infer_kwargs: ``state_dict -> constructor kwargs`` from tensor shapes ({} = defaults).
        configs: named constructor kwargs; ``paper`` is the published size.  ``small`` and
            ``paper`` are what ``segpic train --config`` offers.
        test_config: a tiny configuration for tests and the golden test weights.
        streams: ``model -> int``, how many byte strings ``compress`` returns per image.
        shape: ``(model, H, W) -> shape`` that ``decompress`` needs for a padded H x W image
            (what ``compress`` returns as ``"shape"``).
        trains: whether ``segpic train --arch`` accepts it.
        masks: whether ``forward`` takes ``mask=`` (segmentation prior) and ``grid=``.
        key_map: optional ``state_dict -> state_dict`` applied before loading (checkpoint key
            names that differ from the module names).
        zoo: CompressAI's zoo name whose released weights ``compressai:Q`` downloads.
        golden: in the regression set (``bench regress``, golden streams), coded with
            deterministic test weights of ``test_config`` (``bench.golden_weights``).
        family: ``"segpic"`` (this package's models) or ``"compressai"``.
    """

    name: str
    display: str
    target: str
    recognize: Callable[[Mapping], bool]
    infer_kwargs: Callable[[Mapping], dict]
    configs: Mapping[str, Mapping[str, Any]]
    test_config: Mapping[str, Any]
    streams: Callable[[Any], int] = class_streams
    shape: Callable[[Any, int, int], Any] = hyper_shape
    trains: bool = True
    masks: bool = False
    key_map: Optional[Callable[[dict], dict]] = None
    zoo: Optional[str] = None
    golden: bool = False
    family: str = "segpic"

    def model_class(self) -> type:
        """The network's class (imports its module)."""
        module, cls = self.target.split(":")
        try:
            return getattr(importlib.import_module(module), cls)
        except (ImportError, AttributeError) as e:
            raise ArchitectureError(f"architecture {self.name!r} is not available: {e}") from e

    def build(self, config: str = "paper", **overrides):
        """A freshly initialised network of the named configuration (or ``"test"``)."""
        kwargs = dict(self.test_config if config == "test" else self.configs[config])
        kwargs.update(overrides)
        return self.model_class()(**kwargs)


#: name -> entry, in registration order (recognition order).
REGISTRY: Dict[str, Architecture] = {}


def register(entry: Architecture) -> Architecture:
    """Add ``entry`` (its name must be new, ASCII, at most 32 characters: the container's limit)."""
    if entry.name in REGISTRY:
        raise ValueError(f"architecture {entry.name!r} is registered already")
    if not (entry.name.isascii() and 0 < len(entry.name) <= 32):
        raise ValueError(f"architecture name must be 1..32 ASCII characters: {entry.name!r}")
    REGISTRY[entry.name] = entry
    return entry


def unregister(name: str) -> None:
    """Remove an entry (tests that register a toy architecture clean up with it)."""
    REGISTRY.pop(name, None)


def get(name: str) -> Architecture:
    if name not in REGISTRY:
        raise ArchitectureError(f"unknown architecture {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]


def names() -> Tuple[str, ...]:
    return tuple(REGISTRY)


def trainable() -> Tuple[str, ...]:
    return tuple(n for n, a in REGISTRY.items() if a.trains)


def golden() -> Tuple[str, ...]:
    """The architectures of the regression set."""
    return tuple(n for n, a in REGISTRY.items() if a.golden)


def name_of(model) -> str:
    """The entry whose class ``model`` is an instance of (exact class)."""
    cls = type(model)
    for name, entry in REGISTRY.items():
        if entry.target == f"{cls.__module__}:{cls.__qualname__}" and entry.model_class() is cls:
            return name
    raise ArchitectureError(f"{cls.__name__} is not a registered architecture")


def recognize(state_dict: Mapping) -> Optional[str]:
    """The first entry whose ``recognize`` accepts ``state_dict``; None when none does."""
    for name, entry in REGISTRY.items():
        try:
            if entry.recognize(state_dict):
                return name
        except (KeyError, IndexError, AttributeError):
            continue
    return None


# --------------------------------------------------------------------------- helpers

def _has(prefixes) -> Callable[[Mapping], bool]:
    return lambda sd: any(k.startswith(prefixes) for k in sd)


def _dim(sd: Mapping, key: str, axis: int = 0) -> int:
    return int(sd[key].shape[axis])


def _safe(infer: Callable[[Mapping], dict]) -> Callable[[Mapping], dict]:
    """``infer`` with missing or odd shapes giving {} (the loader then names the keys that do
    not fit the defaults)."""
    def wrapped(sd: Mapping) -> dict:
        try:
            return infer(sd)
        except (KeyError, IndexError, ValueError, ZeroDivisionError, AttributeError):
            return {}
    return wrapped


# --------------------------------------------------------------------------- SegPIC family

def _channel_ar_kwargs(sd: Mapping, M: int) -> dict:
    """num_slices and max_support_slices from the slice-transform shapes."""
    S = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("cc_mean_transforms."))
    s = M // S
    in_last = _dim(sd, f"cc_mean_transforms.{S - 1}.0.weight", 1)
    return {"num_slices": S, "max_support_slices": (in_last - M) // s}


def _prototype_kwargs(sd: Mapping) -> dict:
    """SegPIC's ``prototype_widths`` from the prototype codecs' 1x1 convs; {} for the
    reference widths (the constructor's default)."""
    from segpic.entropy.prototypes import REFERENCE_PROTOTYPE_WIDTHS

    widths = []
    for a, s in (("g_ab", "g_sb"), ("g_ab2", "g_sb2")):
        widths.append([_dim(sd, f"{a}.0.weight"), _dim(sd, f"{a}.2.weight"), _dim(sd, f"{a}.4.weight"),
                       _dim(sd, f"{s}.0.weight"), _dim(sd, f"{s}.2.weight")])
    reference = [list(w) for w in REFERENCE_PROTOTYPE_WIDTHS]
    return {} if widths == reference else {"prototype_widths": widths}


def _segpic_kwargs(sd: Mapping) -> dict:
    N, M = _dim(sd, "g_a1.0.conv_groups.0.weight"), _dim(sd, "g_a2.1.conv_groups.0.weight")
    return {"N": N, "M": M, **_channel_ar_kwargs(sd, M), **_prototype_kwargs(sd)}


def _wacnn_kwargs(sd: Mapping) -> dict:
    M = _dim(sd, "g_a.7.weight")
    return {"N": _dim(sd, "g_a.0.weight"), "M": M, **_channel_ar_kwargs(sd, M)}


def _small_segpic() -> dict:
    from segpic.entropy.prototypes import scaled_prototype_widths

    return {"N": 48, "M": 64, "num_slices": 2, "max_support_slices": 1,
            "prototype_widths": [list(w) for w in scaled_prototype_widths(48, 64)]}


class _LazyConfigs(Mapping):
    """Configs whose values are computed on first access (SegPIC's ``small`` needs a model
    module); keeps this module free of torch imports."""

    def __init__(self, **factories):
        self._factories, self._values = factories, {}

    def __getitem__(self, key):
        if key not in self._values:
            value = self._factories[key]
            self._values[key] = value() if callable(value) else value
        return self._values[key]

    def __iter__(self):
        return iter(self._factories)

    def __len__(self):
        return len(self._factories)


register(Architecture(
    name="segpic", display="SegPIC", target="segpic.models.segpic:SegPIC",
    recognize=_has(("g_a1.", "dyn_encoder.")), infer_kwargs=_safe(_segpic_kwargs),
    configs=_LazyConfigs(paper={"N": 192, "M": 320, "num_slices": 10, "max_support_slices": 5},
                         small=_small_segpic),
    test_config={"N": 16, "M": 32, "num_slices": 2, "max_support_slices": 1},
    masks=True, golden=True,
))
register(Architecture(
    name="stf", display="STF", target="segpic.models.stf:STF",
    recognize=_has(("patch_embed.", "syn_layers.")), infer_kwargs=lambda sd: {},
    configs={"paper": {}, "small": {"embed_dim": 8, "depths": [2, 2, 2, 2], "num_heads": [1, 2, 4, 8], "N": 48,
                                    "num_slices": 2, "max_support_slices": 1}},
    test_config={"embed_dim": 4, "depths": [1, 1, 1, 1], "num_heads": [1, 1, 2, 2], "N": 16,
                 "num_slices": 2, "max_support_slices": 1},
    golden=True,
))
register(Architecture(
    name="wacnn", display="WACNN", target="segpic.models.wacnn:WACNN",
    recognize=lambda sd: _has(("g_a.",))(sd) and _has(("cc_mean_transforms.",))(sd),
    infer_kwargs=_safe(_wacnn_kwargs),
    configs={"paper": {"N": 192, "M": 320}, "small": {"N": 48, "M": 64, "num_slices": 2, "max_support_slices": 1}},
    test_config={"N": 16, "M": 32, "num_slices": 2, "max_support_slices": 1},
    golden=True,
))


# --------------------------------------------------------------------------- CompressAI 1.2.8
# CompressAI's own classes, never re-implemented.  ``paper`` is the architecture CompressAI
# released for quality 1 (``compressai.zoo.image.cfgs``); ELIC and the checkerboard model have
# no released weights there and use their constructors' defaults.

def _nm(n_key: str, m_key: str) -> Callable[[Mapping], dict]:
    """{"N", "M"} from two weights' output channels (the keys CompressAI's from_state_dict reads)."""
    return _safe(lambda sd: {"N": _dim(sd, n_key), "M": _dim(sd, m_key)})


def _n(n_key: str) -> Callable[[Mapping], dict]:
    return _safe(lambda sd: {"N": _dim(sd, n_key)})


def _hyper_out_ratio(sd: Mapping) -> float:
    """Output channels of h_s over M: 1 for the scale hyperprior, 2 for mean-scale."""
    return _dim(sd, "h_s.4.weight") / _dim(sd, "g_a.6.weight")


_ELIC_CONTEXT = "latent_codec.y.channel_context.y{}"


def _elic_groups(sd: Mapping) -> list:
    """ELIC's channel groups: group 0 from the first context's input, group k from context
    k's output (2 x groups[k] channels: means and scales)."""
    groups = [_dim(sd, _ELIC_CONTEXT.format(1) + ".0.weight", 1)]
    k = 1
    while f"{_ELIC_CONTEXT.format(k)}.4.weight" in sd:
        groups.append(_dim(sd, f"{_ELIC_CONTEXT.format(k)}.4.weight") // 2)
        k += 1
    return groups


def _elic_kwargs(sd: Mapping) -> dict:
    groups = _elic_groups(sd)
    M = _dim(sd, "latent_codec.hyper.h_a.0.weight", 1)
    kwargs = {"N": _dim(sd, "g_a.0.weight"), "M": M}
    if groups != [16, 16, 32, 64, M - 128]:  # the constructor's default
        kwargs["groups"] = groups
    return kwargs


def _elic_official(sd: Mapping) -> bool:
    """Official ELIC conditions group k on all earlier groups; the Chandelier variant on the
    first and the latest only."""
    groups = _elic_groups(sd)
    return all(_dim(sd, _ELIC_CONTEXT.format(k) + ".0.weight", 1) == sum(groups[:k]) for k in range(1, len(groups)))


def _is_elic(sd: Mapping) -> bool:
    return _modules("g_a", "g_s", "latent_codec")(sd) and "g_a.0.weight" in sd and \
        _has(("latent_codec.y.channel_context.",))(sd)


def _checkerboard_shape(model, height: int, width: int) -> dict:
    """Cheng 2020 with checkerboard context: y's (channels, h, w) and z's (h, w)."""
    channels = model.latent_codec["hyper"].h_a[0].in_channels
    return {"y": (channels, height // 16, width // 16), "hyper": (height // 64, width // 64)}


def _elic_shape(model, height: int, width: int) -> dict:
    """ELIC: one (channels, h, w) per channel group, and z's (h, w)."""
    return {"y": [(g, height // 16, width // 16) for g in model.groups], "hyper": (height // 64, width // 64)}


def _compressai_keys(sd: Mapping) -> dict:
    """What CompressAI does to its released state_dicts (``compressai.zoo.pretrained.rename_key``):
    ResidualBlockWithStride's old ``downsample`` is ``skip``; the entropy bottleneck's old
    ``_matrices.K``/``_biases.K``/``_factors.K`` are ``matrices.K``/``biases.K``/``factors.K``."""
    out = {}
    for key, value in sd.items():
        key = key.replace(".downsample.", ".skip.")
        key = re.sub(r"(entropy_bottleneck)\._(matrices|biases|factors)\.", r"\1.\2.", key)
        out[key] = value
    return out


def _compressai(name, display, cls, recognize, infer_kwargs, paper, test, streams, shape=hyper_shape, zoo=True,
                golden=False):
    register(Architecture(
        name=name, display=display, target=f"compressai.models.{cls}", recognize=recognize,
        infer_kwargs=infer_kwargs, configs={"paper": paper, "small": test}, test_config=test,
        streams=streams if callable(streams) else (lambda model, n=streams: n), shape=shape,
        key_map=_compressai_keys, zoo=name if zoo else None, golden=golden, family="compressai",
    ))


def _modules(*names: str) -> Callable[[Mapping], bool]:
    """Whether the state_dict's top-level modules are exactly ``names``."""
    return lambda sd: {k.split(".", 1)[0] for k in sd} == set(names)


_is_factorized = _modules("g_a", "g_s", "entropy_bottleneck")
_is_hyperprior = _modules("g_a", "g_s", "h_a", "h_s", "entropy_bottleneck", "gaussian_conditional")
_is_ar = _modules("g_a", "g_s", "h_a", "h_s", "entropy_bottleneck", "gaussian_conditional",
                  "context_prediction", "entropy_parameters")
_is_latent_codec = _modules("g_a", "g_s", "latent_codec")


def _has_attention(sd: Mapping) -> bool:
    """Cheng 2020's attention blocks (``conv_a``) in the analysis transform."""
    return any(k.startswith("g_a.") and ".conv_a." in k for k in sd)
_compressai("bmshj2018-factorized", "Ballé 2018 factorized", "google:FactorizedPrior",
            lambda sd: _is_factorized(sd) and "g_a.6.weight" in sd,
            _nm("g_a.0.weight", "g_a.6.weight"), {"N": 128, "M": 192}, {"N": 16, "M": 24}, 1, latent_shape)
_compressai("bmshj2018-hyperprior", "Ballé 2018 hyperprior", "google:ScaleHyperprior",
            lambda sd: _is_hyperprior(sd) and _hyper_out_ratio(sd) == 1,
            _nm("g_a.0.weight", "g_a.6.weight"), {"N": 128, "M": 192}, {"N": 16, "M": 24}, 2)
_compressai("mbt2018-mean", "Minnen 2018 mean-scale", "google:MeanScaleHyperprior",
            lambda sd: _is_hyperprior(sd) and _hyper_out_ratio(sd) == 2,
            _nm("g_a.0.weight", "g_a.6.weight"), {"N": 128, "M": 192}, {"N": 16, "M": 24}, 2, golden=True)
_compressai("mbt2018", "Minnen 2018 joint AR", "google:JointAutoregressiveHierarchicalPriors",
            lambda sd: _is_ar(sd) and "g_a.0.weight" in sd,
            _nm("g_a.0.weight", "g_a.6.weight"), {"N": 192, "M": 192}, {"N": 16, "M": 24}, 2)
_compressai("cheng2020-attn", "Cheng 2020 attention", "waseda:Cheng2020Attention",
            lambda sd: _is_ar(sd) and _has_attention(sd),
            _n("g_a.0.conv1.weight"), {"N": 128}, {"N": 16}, 2)
_compressai("cheng2020-anchor", "Cheng 2020 anchor", "waseda:Cheng2020Anchor",
            lambda sd: _is_ar(sd) and "g_a.0.conv1.weight" in sd and not _has_attention(sd),
            _n("g_a.0.conv1.weight"), {"N": 128}, {"N": 16}, 2)
_compressai("cheng2020-checkerboard", "Cheng 2020 checkerboard", "sensetime:Cheng2020AnchorCheckerboard",
            lambda sd: _is_latent_codec(sd) and "g_a.0.conv1.weight" in sd,
            _n("g_a.0.conv1.weight"), {"N": 192}, {"N": 16}, 3, _checkerboard_shape, zoo=False)
_compressai("elic2022-official", "ELIC", "sensetime:Elic2022Official",
            lambda sd: _is_elic(sd) and _elic_official(sd), _safe(_elic_kwargs),
            {"N": 192, "M": 320}, {"N": 16, "M": 160}, lambda model: 2 * len(model.groups) + 1, _elic_shape, zoo=False)
_compressai("elic2022-chandelier", "ELIC (Chandelier)", "sensetime:Elic2022Chandelier",
            lambda sd: _is_elic(sd) and not _elic_official(sd), _safe(_elic_kwargs),
            {"N": 192, "M": 320}, {"N": 16, "M": 160}, lambda model: 2 * len(model.groups) + 1, _elic_shape, zoo=False)
