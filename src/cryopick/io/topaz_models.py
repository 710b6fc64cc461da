"""Import Topaz model files (``.sav``) as cryopick weights.

Topaz model files (``.sav``) as cryopick weights: which of Topaz's layouts a file holds, its
tensors and its layers' settings under cryopick's names. Read by ``io/torch_pickle.py``
(nothing in the file runs).

Two kinds of file: the general detectors shipped in ``topaz-em`` (a plain state dict of a
ResNet without pooling) and what ``topaz train`` saves (the whole ``LinearClassifier`` module,
pickled). A whole module may be any of Topaz's 2-D picking nets: ResNet8, ResNet16 (max pooling
or none; with or without dropout) and the convolution stacks conv31, conv63, conv127 (max,
average or no pooling; no dropout, which Topaz itself mis-scores), any widths, with or without
batch norm. Each layer's recorded settings are kept, so the
importer can check the rebuilt net against them layer by layer; anything else is refused with
the reason.
"""

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cryopick.errors import InputError
from cryopick.io.torch_pickle import InertObject, read_torch_file

#: The general detectors in ``topaz-em`` (``topaz/pretrained/detector/NAME.sav``); Topaz's short
#: names pick the 64-unit ones, as ``topaz extract -m resnet16`` does.
TOPAZ_DETECTORS = ("resnet8_u32", "resnet8_u64", "resnet16_u32", "resnet16_u64")
TOPAZ_ALIASES = {"resnet8": "resnet8_u64", "resnet16": "resnet16_u64"}
_LAYOUTS = {"ResNet8": ("topaz-resnet8", 5), "ResNet16": ("topaz-resnet16", 9)}
_RESIDUAL_AT = {"topaz-resnet8": {1, 2, 3}, "topaz-resnet16": {1, 2, 3, 4, 5, 6, 7}}
#: Topaz's convolution stacks by their number of convolutions.
_CONV_STACKS = {3: "topaz-conv31", 4: "topaz-conv63", 5: "topaz-conv127"}
_RESNET_MODULE = "topaz.model.features.resnet."
_BASIC_MODULE = "topaz.model.features.basic."
#: The settings of each ``torch.nn`` layer that change what it computes, compared layer by layer.
LAYER_SETTINGS: dict[str, tuple[str, ...]] = {
    "Conv2d": ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation", "groups",
               "padding_mode", "bias"),
    "BatchNorm2d": ("num_features", "eps", "affine", "track_running_stats"),
    "PReLU": ("num_parameters",),
    "ReLU": (),
    "Dropout": ("p",),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
}
_SPATIAL = {"kernel_size", "stride", "padding", "dilation"}


def normalized_setting(key: str, value: Any) -> Any:
    """A layer setting in one form: spatial ones as pairs (``3`` and ``(3, 3)`` are the same)."""
    if key in _SPATIAL and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value), int(value))
    if isinstance(value, (list, tuple)):
        return tuple(int(v) if isinstance(v, (int, np.integer)) else v for v in value)
    return value


@dataclass(frozen=True)
class TopazModel:
    """A Topaz model file's architecture and tensors, under cryopick's names."""

    architecture: str  # a cryopick registry name: topaz-resnet8/16, topaz-conv31/63/127
    options: dict[str, Any]  # the builder's options: units (widths), batch_norm, pooling, dropout
    tensors: dict[str, npt.NDArray[Any]]  # cryopick's parameter names
    kind: str  # "state dict" (a general detector) or "whole module" (topaz train)
    #: each leaf layer's class name and settings (LAYER_SETTINGS), where the file records them
    layers: dict[str, tuple[str, dict[str, Any]]]


def find_topaz_detector(name: str) -> Path:
    """Locate a general detector of the installed ``topaz-em`` without importing it.

    The file of a general detector in the ``topaz-em`` installed in this Python environment,
    found without importing Topaz (``importlib.util.find_spec`` only locates the package).
    """
    name = TOPAZ_ALIASES.get(name, name)
    if name not in TOPAZ_DETECTORS:
        raise InputError(Path(name), f"not one of Topaz's general detectors ({', '.join(TOPAZ_DETECTORS)})")
    spec = importlib.util.find_spec("topaz")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(Path(name), "topaz-em is not installed in this Python environment: `pip install topaz-em` "
                                     "here, or give the .sav file itself (it is in topaz/pretrained/detector/ "
                                     "of any topaz-em installation)")
    for location in spec.submodule_search_locations:
        path = Path(location) / "pretrained" / "detector" / f"{name}.sav"
        if path.is_file():
            return path
    raise InputError(Path(name), f"topaz-em at {list(spec.submodule_search_locations)[0]} has no "
                                 f"pretrained/detector/{name}.sav")


def _cryopick_name(topaz_name: str) -> str:
    if topaz_name.startswith("features.features."):
        return "encoder." + topaz_name[len("features.features."):]
    return topaz_name


def _flatten(path: Path, module: InertObject, prefix: str, tensors: dict[str, Any],
             layers: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Collect a pickled module's tensors and leaf layers, recursively, under Topaz's names."""
    state = module.state if isinstance(module.state, dict) else {}
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None:
                tensors[prefix + name] = value
    children = state.get("_modules") or {}
    if module.class_path == _RESNET_MODULE + "MaxPool":
        # Topaz's residual nets wrap their max pool; cryopick uses the pool itself in its place
        pool = children.get("pool")
        if not isinstance(pool, InertObject) or set(children) != {"pool"}:
            raise InputError(path, f"{prefix.rstrip('.')}: a MaxPool without its pool")
        layers[prefix.rstrip(".")] = _leaf(pool)
        return
    if not children:
        if module.class_path.startswith("topaz."):
            raise InputError(path, f"{prefix.rstrip('.')}: an unexpected Topaz layer {module.class_path}")
        layers[prefix.rstrip(".")] = _leaf(module)
    for name, child in children.items():
        if not prefix and name == "generative":
            continue  # the autoencoder's decoder (topaz train --autoencoder): training only
        if isinstance(child, InertObject):
            _flatten(path, child, f"{prefix}{name}.", tensors, layers)
        elif child is not None:
            raise InputError(path, f"unexpected module entry {prefix}{name}")


def _leaf(module: InertObject) -> tuple[str, dict[str, Any]]:
    """A torch.nn layer's class name and the settings that change its output."""
    state = module.state if isinstance(module.state, dict) else {}
    kind = module.class_path.rsplit(".", 1)[-1] if module.class_path.startswith("torch.nn.") else module.class_path
    settings: dict[str, Any] = {}
    for key in LAYER_SETTINGS.get(kind, ()):
        if key == "bias":
            settings[key] = (state.get("_parameters") or {}).get("bias") is not None
        else:
            settings[key] = normalized_setting(key, state.get(key))
    return kind, settings


def _one_dropout(path: Path, layers: dict[str, tuple[str, dict[str, Any]]]) -> float:
    rates = {float(settings["p"]) for kind, settings in layers.values() if kind == "Dropout"}
    if len(rates) > 1:
        raise InputError(path, f"dropout rates {sorted(rates)} differ between layers; Topaz uses one")
    return rates.pop() if rates else 0.0


def _whole_module(path: Path, root: InertObject) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]:
    if not root.class_path.endswith("LinearClassifier"):
        raise InputError(path, f"a pickled {root.class_path}, not a Topaz LinearClassifier (picking model)")
    features = (root.state or {}).get("_modules", {}).get("features")
    if not isinstance(features, InertObject):
        raise InputError(path, "a LinearClassifier without features")
    if (features.state or {}).get("dims", 2) != 2 or (root.state or {}).get("dims", 2) != 2:
        raise InputError(path, "a 3-D (tomogram) Topaz model; cryopick picks 2-D micrographs")
    kind = features.class_path.rsplit(".", 1)[-1]
    is_resnet = features.class_path.startswith(_RESNET_MODULE) and kind in _LAYOUTS
    is_stack = features.class_path.startswith(_BASIC_MODULE) and kind in {"BasicConv", "Conv63", "Conv127"}
    if not (is_resnet or is_stack):
        raise InputError(path, f"Topaz's {kind} is not supported (ResNet8, ResNet16, conv31, conv63 and conv127 are)")
    raw: dict[str, Any] = {}
    topaz_layers: dict[str, tuple[str, dict[str, Any]]] = {}
    _flatten(path, root, "", raw, topaz_layers)
    layers = {_cryopick_name(name): layer for name, layer in topaz_layers.items()}
    encoder = {name: layer for name, layer in layers.items() if name.startswith("encoder.")}
    pools = {kind for kind, _ in encoder.values() if kind in ("MaxPool2d", "AvgPool2d")}
    if len(pools) > 1:
        raise InputError(path, "both max and average pooling: not one of Topaz's layouts")
    options: dict[str, Any] = {"batch_norm": any(kind == "BatchNorm2d" for kind, _ in encoder.values())}
    if pools:
        options["pooling"] = "max" if pools == {"MaxPool2d"} else "avg"
    dropout = _one_dropout(path, encoder)
    if dropout > 0:
        options["dropout"] = dropout
    if is_resnet:
        return _LAYOUTS[kind][0], options, raw, layers
    convolutions = [settings for kind, settings in encoder.values() if kind == "Conv2d"]
    if len(convolutions) not in _CONV_STACKS:
        raise InputError(path, f"a Topaz convolution stack of {len(convolutions)} convolutions: not conv31 (3), "
                               "conv63 (4) or conv127 (5)")
    name = _CONV_STACKS[len(convolutions)][6:]
    if dropout > 0:
        raise InputError(path, f"a {name} with dropout: not supported, as Topaz itself scores such a model with "
                               "its dilations misplaced (its dropout layers shift them), not as it was trained")
    options["units"] = [int(settings["out_channels"]) for settings in convolutions]
    return _CONV_STACKS[len(convolutions)], options, raw, layers


def _state_dict_layout(path: Path, tensors: dict[str, Any]) -> str:
    if "features.features.0.weight" in tensors:
        raise InputError(path, "a state dict of a Topaz convolution stack (conv31/63/127): its pooling is not "
                               "recorded in a state dict; import the whole model file that `topaz train` saves")
    indices = {int(k.split(".")[2]) for k in tensors
               if k.startswith("features.features.") and k.split(".")[2].isdigit()}
    for architecture, count in _LAYOUTS.values():
        if indices == set(range(count)):
            return architecture
    raise InputError(path, f"a state dict of {len(indices)} feature layers: not Topaz's ResNet8 (5) or ResNet16 (9) "
                           "without pooling (the layout of its general detectors)")


def _tensors(path: Path, raw: dict[str, Any]) -> dict[str, npt.NDArray[Any]]:
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, value in raw.items():
        if not isinstance(value, np.ndarray):
            raise InputError(path, f"{name} is not a tensor")
        if not (name.startswith("features.features.") or name.startswith("classifier.")):
            raise InputError(path, f"unexpected parameter {name} for a Topaz picking model")
        tensors[_cryopick_name(name)] = value
    return tensors


def _resnet_options(path: Path, architecture: str, tensors: dict[str, npt.NDArray[Any]]) -> dict[str, Any]:
    """A residual net's widths and batch norm, from its tensors (what a state dict has)."""
    convolutions = sorted((int(name.split(".")[1]), name) for name in tensors
                          if name.startswith("encoder.") and name.endswith(".conv.weight"))
    if len(convolutions) != 2 or tensors["classifier.weight"].ndim != 4:
        raise InputError(path, f"not Topaz's {architecture[6:]} layout: no 4-D first and last convolution "
                               "(features.features.N.conv.weight) and classifier.weight")
    first, last = (tensors[name] for _, name in convolutions)
    if not any(name.endswith(".conv0.weight") for name in tensors) or first.ndim != 4 or last.ndim != 4:
        raise InputError(path, f"no residual blocks: not Topaz's {architecture[6:]} layout")
    return {"units": [int(first.shape[0]), int(last.shape[1]), int(last.shape[0])],
            "batch_norm": any(".bn" in name for name in tensors)}


def read_topaz_model(path: str | Path) -> TopazModel:
    """The Topaz model in ``path``; an ``InputError`` naming the file for anything else."""
    path = Path(path)
    saved = read_torch_file(path)
    layers: dict[str, tuple[str, dict[str, Any]]] = {}
    if isinstance(saved, InertObject):
        architecture, options, raw, layers = _whole_module(path, saved)
        kind = "whole module"
    elif isinstance(saved, dict) and saved and all(isinstance(k, str) for k in saved):
        raw, options, kind = dict(saved), {}, "state dict"
        architecture = _state_dict_layout(path, raw)
    else:
        raise InputError(path, f"holds a {type(saved).__name__}, not a Topaz model (a state dict or a "
                               "LinearClassifier)")
    tensors = _tensors(path, raw)
    if "classifier.weight" not in tensors:
        raise InputError(path, "no classifier.weight: not a Topaz picking model")
    if architecture.startswith("topaz-resnet"):
        options = {**_resnet_options(path, architecture, tensors), **options}
    return TopazModel(architecture, options, tensors, kind, layers)
