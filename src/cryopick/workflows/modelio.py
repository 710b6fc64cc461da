"""Between torch modules and the safetensors + JSON model files."""

from pathlib import Path
from typing import Any

import torch

from cryopick.config import Geometry
from cryopick.errors import ConfigError, InputError
from cryopick.io.model_files import load_model, model_files, save_model
from cryopick.models import PickerNet, build_model
from cryopick.preprocess.normalization import Normalization


def save_picker(directory: Path, model: PickerNet, state: dict[str, torch.Tensor], record: dict[str, Any]) -> Path:
    """Save a trained model's weights and record as a model directory; returns its model.json."""
    tensors = {name: t.detach().cpu().contiguous().numpy() for name, t in state.items()}
    record = dict(record)
    record["architecture"] = {"name": model.name, "options": model.options,
                              "receptive_field_px": model.receptive_field_px}
    return save_model(directory, tensors, record)


def load_picker(path: Path) -> tuple[PickerNet, dict[str, Any], Geometry]:
    """Build the recorded architecture from the registry and load its weights, strictly."""
    tensors, record = load_model(path)
    config_path, _ = model_files(path)
    model, geometry = build_picker(tensors, record, config_path)
    return model, record, geometry


def build_picker(tensors: dict[str, Any], record: dict[str, Any], config_path: Path) -> tuple[PickerNet, Geometry]:
    """The model from its tensors and description (as loaded, or as sent to a Dask worker)."""
    try:
        architecture = record["architecture"]
        model = build_model(str(architecture["name"]), **dict(architecture.get("options", {})))
        geometry = Geometry.from_json(record["geometry"])
    except (KeyError, TypeError, ValueError, ConfigError) as exc:
        raise InputError(config_path, f"malformed model description: {exc}") from None
    state = {name: torch.from_numpy(array.copy()) for name, array in tensors.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise InputError(config_path, f"weights do not fit the {architecture['name']} architecture: {first}") from None
    model.eval()
    return model, geometry


def recorded_normalization(record: dict[str, Any], config_path: Path) -> Normalization:
    """The normalisation recorded in a model.json, validated.

    How the model's training micrographs were normalised (raw micrographs are prepared the
    same way); a model.json without a usable one is refused, naming the file.
    """
    if "normalization" not in record:
        raise InputError(config_path, "records no normalization: not a usable model description",
                         field="normalization")
    try:
        return Normalization.from_json(record["normalization"])
    except ValueError as exc:
        raise InputError(config_path, f"malformed normalization: {exc}", field="normalization") from None
