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
from cryopick.io.topaz_models import read_topaz_model
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


def _check_layout(source: Path, model: torch.nn.Module, recorded: dict[str, Any]) -> None:
    """Refuse a Topaz module whose convolutions differ from the rebuilt ones.

    A whole-module file records each convolution's settings: they must be the ones rebuilt
    here (Topaz's projection is strided where cryopick subsamples first: the same arithmetic).
    """
    convolutions = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    for topaz_name, settings in recorded.items():
        name = topaz_name.replace("features.features.", "encoder.", 1)
        conv = convolutions.get(name)
        if conv is None:
            raise InputError(source, f"{topaz_name}: a convolution the rebuilt layout does not have")
        expected = {"kernel_size": conv.kernel_size, "dilation": conv.dilation, "padding": conv.padding,
                    "groups": conv.groups}
        if not name.endswith(".proj"):
            expected["stride"] = conv.stride
        for key, value in expected.items():
            found = settings.get(key)
            found = tuple(found) if isinstance(found, (list, tuple)) else found
            if found != value:
                raise InputError(source, f"{topaz_name}.{key} is {found} where Topaz's default layout has {value}")


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
    model = build_model(topaz.architecture, **topaz.options)
    _check_layout(source, model, topaz.layout)
    state = {name: torch.from_numpy(array.copy()) for name, array in topaz.tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise InputError(source, f"weights do not fit Topaz's {topaz.architecture[6:]} layout: "
                                 f"{str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc}"
                         ) from None
    diameter_px = 2 * geometry.particle_radius_px
    log.info("%s (%s, units %s%s): receptive field %d working px, the particle %.1f px across",
             source_label or source.name, topaz.architecture, topaz.options["units"],
             ", batch norm" if topaz.options["batch_norm"] else "", model.receptive_field_px, diameter_px)
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
