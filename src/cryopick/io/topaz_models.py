"""Import Topaz model files (``.sav``) as cryopick weights.

Topaz model files (``.sav``) as cryopick weights: which of Topaz's layouts a file holds, and its
tensors under cryopick's names. Read by ``io/torch_pickle.py`` (nothing in the file runs).

Two kinds of file: the general detectors shipped in ``topaz-em`` (a plain state dict) and what
``topaz train`` saves (the whole ``LinearClassifier`` module, pickled). Both are accepted for
Topaz's ResNet8 and ResNet16 without pooling or dropout (its defaults), any widths, with or
without batch norm; anything else is refused with the reason.
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


@dataclass(frozen=True)
class TopazModel:
    """A Topaz model file's architecture and tensors, under cryopick's names."""

    architecture: str  # a cryopick registry name: topaz-resnet8 or topaz-resnet16
    options: dict[str, Any]  # the builder's options: units (three widths), batch_norm
    tensors: dict[str, npt.NDArray[Any]]  # cryopick's parameter names
    kind: str  # "state dict" (a general detector) or "whole module" (topaz train)
    layout: dict[str, Any]  # per-convolution (kernel, stride, dilation) as the file records them, if it does


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


def _flatten(path: Path, module: InertObject, prefix: str, tensors: dict[str, Any], layout: dict[str, Any]) -> None:
    state = module.state if isinstance(module.state, dict) else {}
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None:
                tensors[prefix + name] = value
    if module.class_path.endswith(".Conv2d"):
        layout[prefix.rstrip(".")] = {key: state.get(key) for key in ("kernel_size", "stride", "dilation",
                                                                      "padding", "groups")}
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, InertObject):
            _flatten(path, child, f"{prefix}{name}.", tensors, layout)
        elif child is not None:
            raise InputError(path, f"unexpected module entry {prefix}{name}")


def _whole_module(path: Path, root: InertObject) -> tuple[str, dict[str, Any], dict[str, Any]]:
    if not root.class_path.endswith("LinearClassifier"):
        raise InputError(path, f"a pickled {root.class_path}, not a Topaz LinearClassifier (picking model)")
    features = (root.state or {}).get("_modules", {}).get("features")
    if not isinstance(features, InertObject):
        raise InputError(path, "a LinearClassifier without features")
    kind = features.class_path.rsplit(".", 1)[-1]
    if kind not in _LAYOUTS:
        raise InputError(path, f"Topaz's {kind} is not supported (ResNet8 and ResNet16 are)")
    if (features.state or {}).get("dims", 2) != 2:
        raise InputError(path, "a 3-D (tomogram) Topaz model; cryopick picks 2-D micrographs")
    sequence = (features.state or {}).get("_modules", {}).get("features")
    children = []
    if isinstance(sequence, InertObject):
        children = list(((sequence.state or {}).get("_modules") or {}).values())
    names = [c.class_path.rsplit(".", 1)[-1] for c in children if isinstance(c, InertObject)]
    architecture, count = _LAYOUTS[kind]
    if len(names) != count or set(names) - {"BasicConv", "ResidA"}:
        extra = sorted(set(names) - {"BasicConv", "ResidA"})
        raise InputError(path, f"a {kind} with layers {extra or names} (pooling or dropout): only Topaz's default "
                               "layout (no --pooling, --dropout 0) is supported")
    tensors: dict[str, Any] = {}
    layout: dict[str, Any] = {}
    _flatten(path, root, "", tensors, layout)
    return architecture, tensors, layout


def _state_dict_layout(path: Path, tensors: dict[str, Any]) -> str:
    indices = {int(k.split(".")[2]) for k in tensors
               if k.startswith("features.features.") and k.split(".")[2].isdigit()}
    for architecture, count in _LAYOUTS.values():
        if indices == set(range(count)):
            return architecture
    raise InputError(path, f"a state dict of {len(indices)} feature layers: not Topaz's ResNet8 (5) or ResNet16 (9)")


def read_topaz_model(path: str | Path) -> TopazModel:
    """The Topaz model in ``path``; an ``InputError`` naming the file for anything else."""
    path = Path(path)
    saved = read_torch_file(path)
    if isinstance(saved, InertObject):
        architecture, raw, layout = _whole_module(path, saved)
        kind = "whole module"
    elif isinstance(saved, dict) and saved and all(isinstance(k, str) for k in saved):
        raw, layout, kind = dict(saved), {}, "state dict"
        architecture = _state_dict_layout(path, raw)
    else:
        raise InputError(path, f"holds a {type(saved).__name__}, not a Topaz model (a state dict or a "
                               "LinearClassifier)")
    tensors: dict[str, npt.NDArray[Any]] = {}
    for name, value in raw.items():
        if not isinstance(value, np.ndarray):
            raise InputError(path, f"{name} is not a tensor")
        if name.startswith("features.features."):
            tensors["encoder." + name[len("features.features."):]] = value
        elif name.startswith("classifier."):
            tensors[name] = value
        else:
            raise InputError(path, f"unexpected parameter {name} for a Topaz picking model")
    count = _LAYOUTS["ResNet8" if architecture == "topaz-resnet8" else "ResNet16"][1]
    for needed in ("encoder.0.conv.weight", f"encoder.{count - 1}.conv.weight", "classifier.weight"):
        if needed not in tensors or tensors[needed].ndim != 4:
            raise InputError(path, f"no 4-D {needed.replace('encoder.', 'features.features.')} tensor")
    residual = min(_RESIDUAL_AT[architecture])
    if f"encoder.{residual}.conv0.weight" not in tensors:
        raise InputError(path, f"layer {residual} is not a residual block: not Topaz's {architecture[6:]} layout")
    last = tensors[f"encoder.{count - 1}.conv.weight"]
    units = [int(tensors["encoder.0.conv.weight"].shape[0]), int(last.shape[1]), int(last.shape[0])]
    batch_norm = any(".bn" in name for name in tensors)
    return TopazModel(architecture, {"units": units, "batch_norm": batch_norm}, tensors, kind, layout)
