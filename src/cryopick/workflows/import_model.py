"""``run_import_model``: a Topaz model file as a cryopick model directory, checked layer by layer."""

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cryopick import __version__
from cryopick.config import Geometry
from cryopick.errors import InputError
from cryopick.io.manifest import read_manifest
from cryopick.io.model_files import file_sha256
from cryopick.io.topaz_models import LAYER_SETTINGS, normalized_setting, read_topaz_model
from cryopick.models import build_model
from cryopick.preprocess.normalization import Normalization
from cryopick.workflows.modelio import save_picker
from cryopick.workflows.sources import is_preprocessed

log = logging.getLogger(__name__)

#: Topaz's own preprocessing standardises each micrograph's ice (its mixture's dominant component)
#: to mean 0, sd 1; per-micrograph standardisation is the closest of cryopick's recorded methods.
DEFAULT_NORMALIZATION = Normalization("affine")


@dataclass(frozen=True)
class ImportSummary:
    """What an import wrote, and which Topaz model it was."""

    output_dir: Path
    architecture: str
    options: dict[str, Any]
    kind: str


def _our_layers(model: torch.nn.Module) -> dict[str, tuple[str, dict[str, Any]]]:
    """The rebuilt net's leaf layers and settings, in the form the reader records Topaz's."""
    layers: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, module in model.named_modules():
        if next(module.children(), None) is not None or isinstance(module, torch.nn.Identity):
            continue
        # the torch.nn class it is or extends (cryopick's PaddedMaxPool is Topaz's MaxPool2d)
        kind = next(c.__name__ for c in type(module).__mro__ if c.__module__.startswith("torch.nn."))
        settings = {key: normalized_setting(key, (module.bias is not None) if key == "bias" else getattr(module, key))
                    for key in LAYER_SETTINGS.get(kind, ())}
        if name.endswith(".proj"):
            # Topaz strides its projection where cryopick subsamples first: the same arithmetic
            settings["stride"] = normalized_setting("stride", model.get_submodule(name[:-5] + ".conv1").stride)
        layers[name] = (kind, settings)
    return layers


def _topaz_name(name: str) -> str:
    return name.replace("encoder.", "features.features.", 1)


def _check_layers(source: Path, architecture: str, model: torch.nn.Module,
                  recorded: dict[str, tuple[str, dict[str, Any]]]) -> None:
    """Refuse a Topaz module whose layers differ in any way from the rebuilt ones.

    A whole-module file records every layer's class and settings: each must be the rebuilt
    net's, name for name, so the imported model computes what Topaz's does.
    """
    if not recorded:
        return  # a state dict: the layout is known from its parameter names alone
    ours = _our_layers(model)
    layout = f"Topaz's {architecture[6:]} as rebuilt"
    for name in sorted(set(recorded) - set(ours)):
        raise InputError(source, f"{_topaz_name(name)} ({recorded[name][0]}): a layer {layout} does not have")
    for name in sorted(set(ours) - set(recorded)):
        raise InputError(source, f"no {_topaz_name(name)} ({ours[name][0]}), which {layout} has")
    for name, (kind, settings) in ours.items():
        found_kind, found = recorded[name]
        if found_kind != kind:
            raise InputError(source, f"{_topaz_name(name)} is a {found_kind} where {layout} has a {kind}")
        for key, value in settings.items():
            if found.get(key) != value:
                raise InputError(source, f"{_topaz_name(name)}.{key} is {found.get(key)} where {layout} has {value}")


def run_import_model(source: Path, output_dir: Path, *, geometry: Geometry | None = None,
                     preprocessed_dir: Path | None = None, source_label: str | None = None,
                     command: list[str] | None = None) -> ImportSummary:
    """Import a Topaz model as a cryopick model directory.

    Read ``source`` (never executing it), rebuild its architecture, load its weights strictly
    and save them with the ``geometry`` they are to be used at, or a preprocessed directory's
    geometry and normalisation.
    """
    normalization = None
    if preprocessed_dir is not None:
        if not is_preprocessed([preprocessed_dir]):
            raise InputError(preprocessed_dir, "is not a directory written by `cryopick preprocess`")
        manifest = read_manifest(preprocessed_dir)
        geometry, normalization = manifest.geometry, manifest.normalization
    if geometry is None:
        raise ValueError("run_import_model needs a geometry or a preprocessed directory")
    topaz = read_topaz_model(source)
    try:
        model = build_model(topaz.architecture, **topaz.options)
    except ValueError as exc:
        raise InputError(source, f"not one of Topaz's layouts: {exc}") from None
    _check_layers(source, topaz.architecture, model, topaz.layers)
    state = {name: torch.from_numpy(array.copy()) for name, array in topaz.tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(source, f"weights do not fit Topaz's {topaz.architecture[6:]} layout: "
                                 f"{str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc}"
                         ) from None
    diameter_px = 2 * geometry.particle_radius_px
    extras = [", batch norm" if topaz.options["batch_norm"] else "",
              f", {topaz.options['pooling']} pooling" if topaz.options.get("pooling") else "",
              f", dropout {topaz.options['dropout']} (off when picking)" if topaz.options.get("dropout") else ""]
    log.info("%s (%s, units %s%s): receptive field %d working px, the particle %.1f px across",
             source_label or source.name, topaz.architecture, topaz.options["units"], "".join(extras),
             model.receptive_field_px, diameter_px)
    if model.receptive_field_px < diameter_px:
        log.warning("the particle (%.1f working px) is wider than the model's receptive field (%d px): "
                    "downsample more (--downsample)", diameter_px, model.receptive_field_px)
    record: dict[str, Any] = {
        "version": __version__,
        "cmd": command if command is not None else sys.argv,
        "geometry": geometry.to_json(),
        "normalization": (normalization or DEFAULT_NORMALIZATION).to_json(),
        "imported": {"from": source_label or str(source), "file_sha256": file_sha256(source),
                     "kind": topaz.kind, "program": "topaz"},
    }
    save_picker(output_dir, model, model.state_dict(), record)
    log.info("saved %s to %s", topaz.architecture, output_dir)
    return ImportSummary(output_dir, topaz.architecture, topaz.options, topaz.kind)
